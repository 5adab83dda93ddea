// The knobs of netburst's Prometheus rules: the one place to adapt them.
//
// mixin.libsonnet reads this as its _config, which a mixin user overrides
// (`(import 'netburst/mixin.libsonnet') + { _config+:: { selector: 'job="nb"' } }`);
// `go generate ./alerts` renders alerts/netburst-rules.yml from it with the
// rules of alerts/rules.libsonnet, and `go test ./alerts` runs promtool's
// checks and the unit tests of alerts/tests/ (written for the values
// shipped here: change a threshold and the test says which expectation to
// move with it). Without jsonnet or Go, edit alerts/netburst-rules.yml
// directly: every threshold below is a plain number in its alert's expr.
{
  // Label matchers added to every netburst series the rules read (and to
  // `up`): they pick the scrape job(s) of netburst_exporter. Must not be
  // empty; use 'job!=""' to match every job.
  selector: 'job="netburst"',

  // Optional: the matchers of the probe series the rules read instead of
  // selector, e.g. 'job=~"netburst|netburst-probe"' to take in the targets
  // Prometheus drives through /probe (docs/prober.md); the exporter's other
  // rules (up, the sampler) must not read the /probe job.
  // probe_selector: 'job=~"netburst|netburst-probe"',

  // Where the runbook lives; each alert links to runbook_url#<alertname in lower case>.
  runbook_url: 'https://github.com/netburst/netburst/blob/main/docs/runbook.md',

  // Per alert: `for` (Prometheus duration), `severity` (critical, warning or
  // info), `threshold` (the number the alert's value is compared with; unit
  // in the comment), an optional `selector` of the alert's own and, for some,
  // `params`.
  alerts: {
    NetburstExporterDown: {
      'for': '2m',
      severity: 'warning',
      threshold: 0,  // up == 0 (the threshold is not used; kept for uniformity)
    },
    NetburstExporterNotReady: {
      'for': '2m',
      severity: 'warning',
      threshold: 0,  // samples per second: fires when the sampler took none in 1m
    },
    NetburstSamplerOverruns: {
      'for': '10m',
      severity: 'info',
      threshold: 0.01,  // late ticks / samples taken, over 5m
    },
    NetburstHighJitter: {
      'for': '5m',
      severity: 'warning',
      threshold: 0.005,  // seconds: RFC 3550 jitter averaged over 5m
    },
    NetburstRTTSpikes: {
      'for': '2m',
      severity: 'warning',
      threshold: 0.5,  // RTT spikes per minute, averaged over 10m
    },
    NetburstPacketLoss: {
      'for': '5m',
      severity: 'critical',
      threshold: 0.01,  // lost / sent probes over 5m
    },
    NetburstInterfaceBursting: {
      'for': '10m',
      severity: 'warning',
      threshold: 0.01,  // burst intervals / samples over 5m
      selector: 'device!~"lo"',  // e.g. 'device=~"eth.*|bond.*"' to watch uplinks only
    },
    NetburstQdiscDrops: {
      'for': '5m',
      severity: 'warning',
      threshold: 1,  // packets dropped per second by a qdisc, over 5m
    },
    NetburstCaptureKernelDrops: {
      'for': '10m',
      severity: 'info',
      threshold: 0.01,  // kernel drops / (captured + dropped) over 5m
    },
    NetburstBondSlaveDown: {
      'for': '1m',
      severity: 'warning',
      threshold: 0,  // slave_info with mii_status not up (nor unknown); the threshold is not used
    },
    NetburstBondSlaveSaturated: {
      'for': '5m',
      severity: 'warning',
      threshold: 0.05,  // fraction of the seconds saturated over 5m
    },
    NetburstBondImbalance: {
      'for': '15m',
      severity: 'info',
      threshold: 1.5,  // busiest slave's 60s share x number of up slaves (1 = fair)
      params: {
        min_bytes_per_second: 1e6,  // ignore bonds carrying less than this (per direction)
      },
    },
    NetburstBondLACPDegraded: {
      'for': '2m',
      severity: 'warning',
      threshold: 0,  // an up 802.3ad slave outside the active aggregator or churned (the threshold is not used)
    },
    NetburstProbeCannotSend: {
      'for': '5m',
      severity: 'warning',
      threshold: 0,  // netburst_probe_send_failing == 1 (the threshold is not used)
    },
    NetburstCaptureDeviceDown: {
      'for': '10m',
      severity: 'warning',
      threshold: 0,  // netburst_capture_up or netburst_locate_point_up == 0 (the threshold is not used)
    },
  },
}
