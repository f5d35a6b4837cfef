#!/usr/bin/python3
"""An independent gRPC stack for the interop tests: Debian's python3-grpcio plays the
Antrea Agent (FlowExportService.Export, client-streaming) and a flow stream subscriber
(FlowStreamService.GetFlows, server-streaming). Its stubs are generated from our .proto
files by Debian's protoc and grpc_python_plugin; nothing from flow-aggregator's C++ code.

  export     send deterministic Flows (FLOWS per request), then half-close and wait for the
             ExportResponse (Antrea's reply); --hold keeps the stream open until killed
  subscribe  GetFlows with a JSON list of filters; prints each Flow as one JSON line
  check      compare flow-aggregator's JSON lines output with the Flows `export` sends
  expected   print the Flows `export` sends, as JSON lines (for checks in the test)
"""
import argparse
import importlib
import ipaddress
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_DIR = os.path.join(HERE, "..", "..", "rpc", "proto")


def load_stubs(gen_dir):
    if not os.path.exists(os.path.join(gen_dir, "service_pb2_grpc.py")):
        # Several agents may start at once: each generates apart, the first rename wins.
        tmp = "%s.tmp-%d" % (gen_dir, os.getpid())
        os.makedirs(tmp, exist_ok=True)
        subprocess.run(
            ["/usr/bin/protoc", "-I", PROTO_DIR, "--python_out=" + tmp,
             "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
             "--grpc_python_out=" + tmp, "flow.proto", "service.proto"],
            check=True)
        try:
            os.rename(tmp, gen_dir)
        except OSError:
            gen_dir = tmp  # another agent's copy is in place; use ours
    sys.path.insert(0, gen_dir)
    return (importlib.import_module("flow_pb2"), importlib.import_module("service_pb2"),
            importlib.import_module("service_pb2_grpc"))


NAMESPACES = ["default", "payments", "kube-system", "monitoring"]


def uid(seed, i, k):
    return "%08x-%04x-4%03x-8%03x-%012x" % (seed & 0xffffffff, i & 0xffff, k, i % 4096, i)


def make_flow(flow_pb2, seed, i, v6):
    """Flow i of the run: every field the Agent sets, each a function of (seed, i)."""
    f = flow_pb2.Flow()
    f.ipfix.export_time.seconds = 1_700_000_000 + i
    f.ipfix.observation_domain_id = 801257890
    f.start_ts.seconds = 1_700_000_000 + i
    f.start_ts.nanos = 5000
    f.end_ts.seconds = 1_700_000_060 + i
    f.end_reason = 1 + i % 5
    if v6:
        f.ip.version = flow_pb2.IP_VERSION_6
        f.ip.source = ipaddress.IPv6Address("fd00:10:244:1::%x" % (i % 65535 + 1)).packed
        f.ip.destination = ipaddress.IPv6Address("fd00:10:244:2::%x" % (i % 250 + 1)).packed
        f.k8s.destination_cluster_ip = ipaddress.IPv6Address("fd00:10:96::10").packed
        f.k8s.destination_service_ip = ipaddress.IPv6Address("fd00:10:96::11").packed
        f.proxy_snat_ip = ipaddress.IPv6Address("fd00:10:244:9::1").packed
    else:
        f.ip.version = flow_pb2.IP_VERSION_4
        f.ip.source = ipaddress.IPv4Address("10.244.1.%d" % (i % 250 + 1)).packed
        f.ip.destination = ipaddress.IPv4Address("10.244.2.%d" % (i % 250 + 1)).packed
        f.k8s.destination_cluster_ip = ipaddress.IPv4Address("10.96.0.10").packed
        f.k8s.destination_service_ip = ipaddress.IPv4Address("10.96.0.11").packed
        f.proxy_snat_ip = ipaddress.IPv4Address("10.244.9.1").packed
    f.transport.protocol_number = 6 if i % 3 else 17
    f.transport.source_port = 10000 + i % 50000  # unique within a run of < 50000
    f.transport.destination_port = 80 + i % 7
    if f.transport.protocol_number == 6:
        f.transport.TCP.state_name = "ESTABLISHED" if i % 2 else "TIME_WAIT"
    k = f.k8s
    k.flow_type = 1 + i % 4
    k.source_pod_namespace = NAMESPACES[i % 4]
    k.source_pod_name = "client-%d" % (i % 10)
    k.source_pod_uid = uid(seed, i, 1)
    k.source_node_name = "kind-worker"
    k.source_node_uid = uid(seed, i, 2)
    k.destination_pod_namespace = NAMESPACES[(i + 1) % 4]
    k.destination_pod_name = "server-%d" % (i % 3)
    k.destination_pod_uid = uid(seed, i, 3)
    k.destination_node_name = "kind-worker2"
    k.destination_node_uid = uid(seed, i, 4)
    k.destination_service_port = 8080
    k.destination_service_port_name = "%s/svc-%d:http" % (NAMESPACES[(i + 1) % 4], i % 2)
    k.ingress_network_policy_type = i % 5
    k.ingress_network_policy_namespace = "np-ns"
    k.ingress_network_policy_name = "allow-%d" % (i % 3)
    k.ingress_network_policy_uid = uid(seed, i, 5)
    k.ingress_network_policy_rule_name = "rule-%d" % (i % 2)
    k.ingress_network_policy_rule_action = i % 4
    k.egress_network_policy_type = (i + 1) % 5
    k.egress_network_policy_namespace = "eg-ns"
    k.egress_network_policy_name = "deny-%d" % (i % 3)
    k.egress_network_policy_uid = uid(seed, i, 6)
    k.egress_network_policy_rule_name = "erule"
    k.egress_network_policy_rule_action = (i + 2) % 4
    k.egress_name = "egress-prod"
    k.egress_ip = ipaddress.ip_address("172.18.0.100" if i % 2 else "fd00:172:18::100").packed
    k.egress_node_name = "kind-worker3"
    k.egress_uid = uid(seed, i, 7)
    for s, base in ((f.stats, 1000), (f.reverse_stats, 2000)):
        s.packet_total_count = base + i
        s.packet_delta_count = i
        s.octet_total_count = base * 100 + i
        s.octet_delta_count = i * 10
    f.proxy_snat_port = 30000 + i % 1000
    return f


def expected_elements(f):
    """The IPFIX elements (registry names) and values flow-aggregator must forward for f."""
    k, t = f.k8s, f.transport
    v6 = f.ip.version == 6
    fam = "IPv6" if v6 else "IPv4"
    ip = lambda raw: str(ipaddress.ip_address(raw))
    return {
        "flowStartSeconds": f.start_ts.seconds,
        "flowEndSeconds": f.end_ts.seconds,
        "flowEndReason": f.end_reason,
        "sourceTransportPort": t.source_port,
        "destinationTransportPort": t.destination_port,
        "protocolIdentifier": t.protocol_number,
        "packetTotalCount": f.stats.packet_total_count,
        "packetDeltaCount": f.stats.packet_delta_count,
        "octetTotalCount": f.stats.octet_total_count,
        "octetDeltaCount": f.stats.octet_delta_count,
        "reversePacketTotalCount": f.reverse_stats.packet_total_count,
        "reversePacketDeltaCount": f.reverse_stats.packet_delta_count,
        "reverseOctetTotalCount": f.reverse_stats.octet_total_count,
        "reverseOctetDeltaCount": f.reverse_stats.octet_delta_count,
        "source%sAddress" % fam: ip(f.ip.source),
        "destination%sAddress" % fam: ip(f.ip.destination),
        "sourcePodNamespace": k.source_pod_namespace,
        "sourcePodName": k.source_pod_name,
        "sourcePodUUID": k.source_pod_uid.replace("-", ""),
        "sourceNodeName": k.source_node_name,
        "sourceNodeUUID": k.source_node_uid.replace("-", ""),
        "destinationPodNamespace": k.destination_pod_namespace,
        "destinationPodName": k.destination_pod_name,
        "destinationPodUUID": k.destination_pod_uid.replace("-", ""),
        "destinationNodeName": k.destination_node_name,
        "destinationNodeUUID": k.destination_node_uid.replace("-", ""),
        "destinationServicePort": k.destination_service_port,
        "destinationServicePortName": k.destination_service_port_name,
        "destinationServiceUUID": "0" * 32,
        "ingressNetworkPolicyType": k.ingress_network_policy_type,
        "ingressNetworkPolicyNamespace": k.ingress_network_policy_namespace,
        "ingressNetworkPolicyName": k.ingress_network_policy_name,
        "ingressNetworkPolicyUUID": k.ingress_network_policy_uid.replace("-", ""),
        "ingressNetworkPolicyRuleName": k.ingress_network_policy_rule_name,
        "ingressNetworkPolicyRuleAction": k.ingress_network_policy_rule_action,
        "egressNetworkPolicyType": k.egress_network_policy_type,
        "egressNetworkPolicyNamespace": k.egress_network_policy_namespace,
        "egressNetworkPolicyName": k.egress_network_policy_name,
        "egressNetworkPolicyUUID": k.egress_network_policy_uid.replace("-", ""),
        "egressNetworkPolicyRuleName": k.egress_network_policy_rule_name,
        "egressNetworkPolicyRuleAction": k.egress_network_policy_rule_action,
        "tcpState": t.TCP.state_name if t.HasField("TCP") else "",
        "flowType": k.flow_type,
        "egressName": k.egress_name,
        "egressUUID": k.egress_uid.replace("-", ""),
        "egressIP": ip(k.egress_ip),
        "egressNodeName": k.egress_node_name,
        "egressNodeUUID": "0" * 32,
        "proxySnatPort": f.proxy_snat_port,
        "proxySnat%s" % fam: ip(f.proxy_snat_ip),
        "destinationCluster%s" % fam: ip(k.destination_cluster_ip),
        "destinationService%s" % fam: ip(k.destination_service_ip),
    }


def channel(grpc, args):
    if not args.ca:
        return grpc.insecure_channel(args.target)
    creds = grpc.ssl_channel_credentials(
        root_certificates=open(args.ca, "rb").read(),
        private_key=open(args.key, "rb").read() if args.key else None,
        certificate_chain=open(args.cert, "rb").read() if args.cert else None)
    opts = [("grpc.ssl_target_name_override", args.server_name)] if args.server_name else []
    return grpc.secure_channel(args.target, creds, options=opts)


BAD = {
    # What Antrea's aggregator would crash on or drop; flow-aggregator refuses and counts.
    "no_timestamps": lambda f: f.ClearField("start_ts"),
    "unknown_enum": lambda f: setattr(f.k8s, "flow_type", 9),
    "bad_address": lambda f: setattr(f.ip, "source", b"\x01\x02\x03"),
}


def cmd_export(args):
    import grpc
    flow_pb2, service_pb2, service_grpc = load_stubs(args.gen_dir)

    def requests():
        batch = []
        for i in range(args.first, args.first + args.count):
            f = make_flow(flow_pb2, args.seed, i, args.ipv6)
            if args.bad and i % args.bad_every == 0:
                BAD[args.bad](f)
            batch.append(f)
            if len(batch) == args.per_request:
                yield service_pb2.ExportRequest(flows=batch)
                batch = []
        if batch:
            yield service_pb2.ExportRequest(flows=batch)
        if args.oversized:
            big = make_flow(flow_pb2, args.seed, 0, args.ipv6)
            big.k8s.source_pod_name = "x" * args.oversized
            yield service_pb2.ExportRequest(flows=[big])
        if args.hold:
            print("sent", flush=True)
            while True:  # an Agent never half-closes: wait to be cut off
                time.sleep(0.05)

    with channel(grpc, args) as ch:
        stub = service_grpc.FlowExportServiceStub(ch)
        try:
            reply = stub.Export(requests(), timeout=args.timeout)
        except grpc.RpcError as e:
            print("rpc error: %s %s" % (e.code().name, e.details()), flush=True)
            return 3
        print("reply: %s" % type(reply).__name__, flush=True)
    return 0


def cmd_subscribe(args):
    import grpc
    from google.protobuf import json_format
    flow_pb2, service_pb2, service_grpc = load_stubs(args.gen_dir)
    req = service_pb2.GetFlowsRequest(max_count=args.max_count, follow=args.follow)
    for f in json.loads(args.filters):
        json_format.ParseDict(f, req.filters.add())
    if args.since:
        req.since.seconds = args.since
    n = 0
    with channel(grpc, args) as ch:
        stub = service_grpc.FlowStreamServiceStub(ch)
        try:
            for resp in stub.GetFlows(req, timeout=args.timeout):
                for f in resp.flows:
                    print(json.dumps(json_format.MessageToDict(f)), flush=True)
                    n += 1
                print("# dropped_count %d" % resp.dropped_count, file=sys.stderr, flush=True)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED and args.follow:
                pass
            else:
                print("rpc error: %s %s" % (e.code().name, e.details()), file=sys.stderr)
                return 4 if e.code() == grpc.StatusCode.INVALID_ARGUMENT else 3
    print("# received %d" % n, file=sys.stderr)
    return 0


def dump_records(path):
    """libfixbuf's ipfixDump text: one dict of element name -> value text per data record.
    Strings lose their "(len: N) " prefix; octet arrays show only "len: 16" (skipped)."""
    recs, cur = [], None
    for line in open(path):
        if line.startswith("--- data record"):
            cur = {}
            recs.append(cur)
            continue
        if line.startswith("---"):
            cur = None
            continue
        if cur is None or " : " not in line or not line.startswith("\t("):
            continue
        head, value = line.rstrip("\n").split(" : ", 1)
        name = head.split(")", 1)[1].strip()
        if value.startswith("(len: "):
            value = value.split(") ", 1)[1] if ") " in value else ""
        elif value.startswith("len: "):
            continue
        cur[name] = value
    return recs


def cmd_check(args):
    """Every exported Flow is one record of flow-aggregator's output, the jsonl destination
    (--jsonl) or ipfixDump's decoding of the IPFIX destination (--dump), with the right
    value in each element, matched by (IP version, sourceTransportPort), unique per run."""
    flow_pb2, _, _ = load_stubs(args.gen_dir)
    want = {}
    for run in args.runs:  # "first:count:ipv6[:exporter address]"
        first, count, v6, *exporter = run.split(":", 3)
        for i in range(int(first), int(first) + int(count)):
            f = make_flow(flow_pb2, args.seed, i, v6 == "1")
            elements = expected_elements(f)
            elements["clusterId"] = args.cluster_id
            if exporter:
                fam = "IPv6" if ":" in exporter[0] else "IPv4"
                other = "IPv4" if fam == "IPv6" else "IPv6"
                elements["originalExporter%sAddress" % fam] = exporter[0]
                elements["originalExporter%sAddress" % other] = "::" if fam == "IPv4" else "0.0.0.0"
            if args.dump:
                elements = {k: v for k, v in elements.items() if not k.endswith("UUID")}
            want[(f.ip.version, f.transport.source_port)] = elements
    records = dump_records(args.dump) if args.dump else [json.loads(l) for l in open(args.jsonl)]
    got = {}
    for rec in records:
        if "proxySnatPort" not in rec:
            continue  # an IPFIX (loadgen) record sent alongside
        v = 6 if "sourceIPv6Address" in rec else 4
        key = (v, int(rec["sourceTransportPort"]))
        if key in got:
            print("flow %s twice" % (key,))
            return 1
        got[key] = rec
    problems = []
    for key, elements in want.items():
        rec = got.get(key)
        if rec is None:
            problems.append("flow %s missing" % (key,))
            continue
        for name, value in elements.items():
            have = rec.get(name)
            if isinstance(value, str) and name.endswith("UUID"):
                have = str(have).replace("-", "").lower()
                if have in ("", "0" * 32) and value == "0" * 32:
                    continue
            if name.endswith("Seconds"):
                fmt = "%Y-%m-%d %H:%M:%S" if args.dump else "%Y-%m-%dT%H:%M:%SZ"
                value = time.strftime(fmt, time.gmtime(value))
            if isinstance(have, str) and not isinstance(value, str):
                try:
                    have = int(have)
                except ValueError:
                    pass
            if name.endswith(("Address", "IPv4", "IPv6", "IP")) and value and have:
                try:
                    have = str(ipaddress.ip_address(have))
                except ValueError:
                    pass
            if have != value:
                problems.append("flow %s: %s is %r, want %r" % (key, name, have, value))
        if len(problems) > 20:
            break
    extra = len(got) - len(set(got) & set(want))
    if extra:
        problems.append("%d unexpected gRPC records" % extra)
    for p in problems[:20]:
        print(p)
    print("checked %d flows, %d problems" % (len(want), len(problems)))
    return 1 if problems else 0


def cmd_expected(args):
    from google.protobuf import json_format
    flow_pb2, _, _ = load_stubs(args.gen_dir)
    for i in range(args.first, args.first + args.count):
        f = make_flow(flow_pb2, args.seed, i, args.ipv6)
        print(json.dumps(json_format.MessageToDict(f)))
    return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["export", "subscribe", "check", "expected"])
    p.add_argument("--gen-dir", required=True)
    p.add_argument("--target")
    p.add_argument("--ca")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--server-name")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--first", type=int, default=0)
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--per-request", type=int, default=1)
    p.add_argument("--ipv6", action="store_true")
    p.add_argument("--bad", choices=sorted(BAD))
    p.add_argument("--bad-every", type=int, default=10)
    p.add_argument("--oversized", type=int, default=0)
    p.add_argument("--hold", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--filters", default="[]")
    p.add_argument("--since", type=int, default=0)
    p.add_argument("--max-count", type=int, default=0)
    p.add_argument("--follow", action="store_true")
    p.add_argument("--jsonl")
    p.add_argument("--dump")
    p.add_argument("--cluster-id", default="0b1f3a52-1c1e-4b9e-9a53-6c7d2a1e0f11")
    p.add_argument("--runs", nargs="*", default=[])
    args = p.parse_args()
    return {"export": cmd_export, "subscribe": cmd_subscribe, "check": cmd_check,
            "expected": cmd_expected}[args.mode](args)


if __name__ == "__main__":
    sys.exit(main())
