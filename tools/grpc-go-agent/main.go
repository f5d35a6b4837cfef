// grpc-go-agent: an Antrea Agent's gRPC transport for load and tests. The Agent is Go and
// sends each Flow with stream.Send on one long-lived client-streaming Export stream, one
// Flow per ExportRequest, with no batching of its own: what reaches the server per TCP
// write is what grpc-go's transport makes of it (its loopy writer coalesces the frames
// queued while it writes; reference antrea-grpc-transport.md, section 4).
// This program is that transport (Debian's grpc-go) sending requests made elsewhere:
// the serialized ExportRequests that `grpc-loadgen --dump` writes, so that it and the C++
// loader send the same bytes. No generated code: the requests pass through a codec that
// hands the bytes on as they are.
//
// Unlike an Agent, each stream half-closes after --records Flows and reads the reply, so
// that a run ends and its success can be checked. Prints grpc-loadgen's one-line JSON
// summary; exits 1 when any stream failed, 2 on bad usage or input.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

const exportMethod = "/antrea_io.antrea.pkg.apis.flow.v1alpha1.FlowExportService/Export"

// rawCodec passes serialized messages through unchanged. Its name is "proto" so the
// request's content-type is application/grpc+proto, as with generated code.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T is not []byte", v)
	}
	return b, nil
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("rawCodec: %T is not *[]byte", v)
	}
	*p = append((*p)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

// request is one serialized ExportRequest and where each of its Flows ends in it.
type request struct {
	bytes    []byte
	flowEnds []int
}

// readRequests reads grpc-loadgen's dump: a 4-octet big-endian length, then that many
// octets of ExportRequest, repeated.
func readRequests(path string) ([]request, error) {
	data, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []request
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, fmt.Errorf("%s: a length cut short", path)
		}
		n := int(binary.BigEndian.Uint32(data))
		if len(data)-4 < n {
			return nil, fmt.Errorf("%s: a request cut short", path)
		}
		ends, err := flowEnds(data[4 : 4+n])
		if err != nil {
			return nil, fmt.Errorf("%s: request %d: %v", path, len(out), err)
		}
		out = append(out, request{data[4 : 4+n], ends})
		data = data[4+n:]
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no requests", path)
	}
	return out, nil
}

// flowEnds walks an ExportRequest's top level, where each field is `repeated Flow flows =
// 1` (key 0x0a, a varint length, the Flow), and returns the offset after each Flow: the
// loader counts Flows, and cuts the last request at a Flow's end when --records asks.
func flowEnds(b []byte) ([]int, error) {
	var ends []int
	for i := 0; i < len(b); {
		if b[i] != 0x0a {
			return nil, fmt.Errorf("key %#x at %d, not field 1 (flows)", b[i], i)
		}
		i++
		n, w := uvarint(b[i:])
		if w <= 0 || uint64(len(b)-i-w) < n {
			return nil, errors.New("a Flow's length is bad or runs past the request")
		}
		i += w + int(n)
		ends = append(ends, i)
	}
	return ends, nil
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// stream sends `records` Flows of `pool` (cycling) on one Export stream of its own
// connection, half-closes and waits for the reply.
func stream(target string, creds grpc.DialOption, pool []request, records uint64) error {
	conn, err := grpc.Dial(target, creds)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, exportMethod,
		grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return err
	}
	for sent, k := uint64(0), 0; sent < records; k = (k + 1) % len(pool) {
		msg, flows := pool[k].bytes, uint64(len(pool[k].flowEnds))
		if left := records - sent; flows > left {
			msg, flows = msg[:pool[k].flowEnds[left-1]], left
		}
		// An error here means the stream ended: RecvMsg below says why.
		if err := s.SendMsg(msg); err != nil {
			break
		}
		sent += flows
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	var reply []byte
	return s.RecvMsg(&reply)
}

// transportCredentials: plain HTTP/2 without --ca; TLS trusting --ca, with a client
// certificate when --cert and --key are given (mTLS).
func transportCredentials(ca, cert, key, serverName string) (grpc.DialOption, error) {
	if ca == "" {
		return grpc.WithInsecure(), nil
	}
	pem, err := ioutil.ReadFile(ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", ca)
	}
	cfg := &tls.Config{RootCAs: roots, ServerName: serverName}
	if cert != "" || key != "" {
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}

// fileList is a repeatable flag.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var requests fileList
	target := flag.String("target", "127.0.0.1:14739", "the grpc:// or grpcs:// listener, HOST:PORT (IPv6 as [ADDR]:PORT)")
	streams := flag.Uint64("streams", 1, "streams at once, one connection each")
	records := flag.Uint64("records", 100000, "Flows per stream")
	flag.Var(&requests, "requests", "a `FILE` written by grpc-loadgen --dump; repeat it: stream i sends file i modulo the count (required)")
	ca := flag.String("ca", "", "TLS (grpcs://): trust this CA's certificates")
	cert := flag.String("cert", "", "TLS: the client certificate (mTLS)")
	key := flag.String("key", "", "TLS: the client certificate's key")
	serverName := flag.String("server-name", "", "TLS: the name the server's certificate must have (default: the target's host)")
	flag.Parse()
	if len(requests) == 0 || *streams == 0 || *records == 0 || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "grpc-go-agent: --requests FILE is required; --streams and --records are positive")
		flag.Usage()
		os.Exit(2)
	}
	creds, err := transportCredentials(*ca, *cert, *key, *serverName)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grpc-go-agent:", err)
		os.Exit(2)
	}
	pools := make([][]request, len(requests))
	for i, path := range requests {
		if pools[i], err = readRequests(path); err != nil {
			fmt.Fprintln(os.Stderr, "grpc-go-agent:", err)
			os.Exit(2)
		}
	}

	var failed uint64
	var wg sync.WaitGroup
	start := time.Now()
	for i := uint64(0); i < *streams; i++ {
		wg.Add(1)
		go func(i uint64) {
			defer wg.Done()
			if err := stream(*target, creds, pools[i%uint64(len(pools))], *records); err != nil {
				fmt.Fprintf(os.Stderr, "grpc-go-agent: stream %d: %v\n", i, err)
				atomic.AddUint64(&failed, 1)
			}
		}(i)
	}
	wg.Wait()
	seconds := time.Since(start).Seconds()
	total := *streams * *records
	fmt.Printf("{\"records\": %d, \"seconds\": %.3f, \"records_per_s\": %.0f, \"failed\": %d}\n",
		total, seconds, float64(total)/seconds, failed)
	if failed > 0 {
		os.Exit(1)
	}
}
