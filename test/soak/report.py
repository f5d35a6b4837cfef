#!/usr/bin/env python3
"""The soak test's arithmetic (test/soak/soak.sh).

  report.py metric FILE NAME [LABEL=VALUE ...]
      the sum of the series NAME{...} in a Prometheus text FILE whose labels match (0
      when there is none)
  report.py sample-header
  report.py sample FILE PID SECONDS PROBE_SECONDS
      a line of samples.csv: flow-aggregator's RSS, descriptors and threads (/proc/PID)
      and counters from the Prometheus text FILE
  report.py report DIR
      prints the samples and the checks of a finished run in DIR; exit status 1 when a
      check fails. Tolerances from the environment: SOAK_RSS_GROWTH_MB (24),
      SOAK_FD_GROWTH (16), SOAK_THREAD_GROWTH (0)."""
import csv
import json
import os
import re
import statistics
import sys

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def series(path):
    with open(path) as f:
        for line in f:
            m = SAMPLE.match(line)
            if m:
                yield m.group(1), dict(LABEL.findall(m.group(3) or '')), float(m.group(4))


def metric(path, name, **want):
    return sum(v for n, labels, v in series(path)
               if n == name and all(labels.get(k) == x for k, x in want.items()))


SAMPLE_COLUMNS = ['seconds', 'rss_kb', 'fds', 'threads', 'records_received',
                  'records_sent_main', 'queue_bytes_main', 'sessions_open', 'probe_ms']


def sample(path, pid, seconds, probe):
    status = dict(line.split(':', 1) for line in open('/proc/%s/status' % pid) if ':' in line)
    values = [seconds, status['VmRSS'].split()[0], len(os.listdir('/proc/%s/fd' % pid)),
              status['Threads'].strip()]
    if os.path.getsize(path) == 0:  # the scrape failed
        values += [''] * 4
    else:
        values += ['%d' % metric(path, 'flow_aggregator_records_received_total'),
                   '%d' % metric(path, 'flow_aggregator_records_sent_total', destination='main'),
                   '%d' % metric(path, 'flow_aggregator_destination_queue_bytes',
                                 destination='main'),
                   '%d' % metric(path, 'flow_aggregator_sessions_open')]
    values.append(round(float(probe) * 1000, 1))
    return ','.join(str(v) for v in values)


def load(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def report(out):
    samples = list(csv.DictReader(open(os.path.join(out, 'samples.csv'))))
    run = load(os.path.join(out, 'run.json'), {})
    m = os.path.join(out, 'metrics-final.txt')
    failures = []

    def check(ok, what):
        print('%s  %s' % ('PASS' if ok else 'FAIL', what))
        if not ok:
            failures.append(what)

    print('== samples (every minute; all in samples.csv)')
    cols = SAMPLE_COLUMNS
    print(' '.join('%17s' % c for c in cols))
    last_minute = -1
    for i, s in enumerate(samples):
        minute = int(s['seconds']) // 60
        if minute != last_minute or i == len(samples) - 1:
            print(' '.join('%17s' % s[c] for c in cols))
            last_minute = minute

    print('== resources (median of the first fifth after a warm-up vs median of the last fifth)')
    seconds = [int(s['seconds']) for s in samples]
    length = seconds[-1] if seconds else 0
    warm = max(60, length // 5)
    fifth = max(1, length // 5)
    early = [s for s in samples if warm <= int(s['seconds']) < warm + fifth]
    late = [s for s in samples if int(s['seconds']) >= length - fifth]
    tolerances = {'rss_kb': float(os.environ.get('SOAK_RSS_GROWTH_MB', 24)) * 1024,
                  'fds': float(os.environ.get('SOAK_FD_GROWTH', 16)),
                  'threads': float(os.environ.get('SOAK_THREAD_GROWTH', 0))}
    for key, tolerance in tolerances.items():
        if not early or not late:
            check(False, '%s: too few samples for a comparison' % key)
            continue
        a = statistics.median(float(s[key]) for s in early)
        b = statistics.median(float(s[key]) for s in late)
        values = [float(s[key]) for s in samples]
        check(b - a <= tolerance,
              '%s: %.0f -> %.0f (growth %+.0f, tolerance %.0f; min %.0f, max %.0f)'
              % (key, a, b, b - a, tolerance, min(values), max(values)))

    print('== records')
    gen_tcp = load(os.path.join(out, 'loadgen-tcp.json'), {}).get('records', -1)
    gen_udp = load(os.path.join(out, 'loadgen-udp.json'), {}).get('records', -1)
    rcv_tcp = metric(m, 'flow_aggregator_records_received_total', transport='tcp')
    rcv_udp = metric(m, 'flow_aggregator_records_received_total', transport='udp')
    lost_udp = metric(m, 'flow_aggregator_records_lost_upstream_total', transport='udp')
    check(gen_tcp == rcv_tcp, 'TCP in: loadgen sent %d, received %d' % (gen_tcp, rcv_tcp))
    check(gen_udp == rcv_udp + lost_udp,
          'UDP in: loadgen sent %d = received %d + lost upstream (counted by sequence) %d'
          % (gen_udp, rcv_udp, lost_udp))
    received = rcv_tcp + rcv_udp
    enrich_dropped = metric(m, 'flow_aggregator_enrich_dropped_records_total')
    # At least once across collector crashes (README, Architecture): records_sent_total
    # counts replays too, so sent - replayed is each record once; the collector may hold
    # a replayed record twice, and --verify counts those duplicates.
    for d in ('main', 'side'):
        sent = metric(m, 'flow_aggregator_records_sent_total', destination=d)
        replayed = metric(m, 'flow_aggregator_records_replayed_total', destination=d)
        once = sent - replayed
        dropped = metric(m, 'flow_aggregator_records_dropped_total', destination=d)
        queued = metric(m, 'flow_aggregator_destination_queue_bytes', destination=d)
        col = load(os.path.join(out, 'collector-%s.json' % d), {})
        duplicates = col.get('duplicates', 0)
        distinct = col.get('records', -1) - duplicates
        if d == 'main':
            # main is in every configuration, so every record enriched goes to it.
            check(received == once + dropped + enrich_dropped and queued == 0,
                  'main: received %d = sent %d (%d written, %d of them replays) + dropped %d + '
                  'dropped enriching %d (queued: %d octets)'
                  % (received, once, sent, replayed, dropped, enrich_dropped, queued))
        else:
            print('      side: sent %d (%d written, %d replays), dropped %d (removed by reloads '
                  'while queued)' % (once, sent, replayed, dropped))
        lost = once - distinct
        check(lost == 0,
              '%s: the collector holds %d distinct records of the %d sent: %s'
              % (d, distinct, once, 'exact' if lost == 0 else
                 ('%d LOST' % lost) if lost > 0 else ('%d more than sent' % -lost)))
        # (side only gets the records of its periods: gaps by index are expected there.)
        check(duplicates <= replayed and col.get('mismatched', -1) == 0,
              '%s: duplicates %s (at most the %d replayed), records not as the loadgen sent '
              'them %s%s, malformed %s'
              % (d, duplicates, replayed, col.get('mismatched'),
                 ', missing by index %s' % col.get('missing') if d == 'main' else '',
                 col.get('malformed')))

    print('== reloads, restarts, probes')
    ok_reloads = metric(m, 'flow_aggregator_config_reloads_total', result='success')
    bad_reloads = metric(m, 'flow_aggregator_config_reloads_total', result='failure')
    check(bad_reloads == 0 and ok_reloads >= run.get('reloads', 0),
          'reloads: %d sent, %d applied, %d failed' % (run.get('reloads', 0), ok_reloads, bad_reloads))
    print('      collector restarts: %d (%d of them crashes)' % (run.get('restarts', 0),
                                                              run.get('crashes', 0)))
    hostile = load(os.path.join(out, 'probes.json'), {})
    hostile['connections'] = load(os.path.join(out, 'hostile.json'), {}).get('connections')
    # A probe that gets no 200 within 10 s fails; the median shows whether the admin API
    # kept answering at once. Single slow probes on a loaded machine are the client's
    # scheduling as much as the server's: they are reported, not failed.
    check(hostile.get('probes', 0) > 0 and hostile.get('probe_failures', 1) == 0 and
          hostile.get('median_probe_ms', 1e9) < 100,
          'hostile client: %s probes, %s failed, median %s ms (p99 %s ms, slowest %s ms, '
          '%s over 1 s); %s connections opened'
          % (hostile.get('probes'), hostile.get('probe_failures'), hostile.get('median_probe_ms'),
             hostile.get('p99_probe_ms'), hostile.get('slowest_probe_ms'),
             hostile.get('slow_probes'), hostile.get('connections')))
    print('== %s' % ('PASSED' if not failures else 'FAILED: ' + '; '.join(failures)))
    return 1 if failures else 0


if __name__ == '__main__':
    if sys.argv[1] == 'metric':
        labels = dict(a.split('=', 1) for a in sys.argv[4:])
        print('%d' % metric(sys.argv[2], sys.argv[3], **labels))
    elif sys.argv[1] == 'sample-header':
        print(','.join(SAMPLE_COLUMNS))
    elif sys.argv[1] == 'sample':
        print(sample(*sys.argv[2:6]))
    else:
        sys.exit(report(sys.argv[2]))
