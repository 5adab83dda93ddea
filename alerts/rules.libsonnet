// netburst's recording and alerting rules, as functions of a config
// (config.libsonnet, or a mixin user's _config): mixin.libsonnet calls them,
// `go generate ./alerts` renders them into alerts/netburst-rules.yml.
//
// Strings are formats: %(sel)s is the config's selector (%(psel)s its
// probe_selector, for the probe series), %(andsel)s the
// alert's own matchers after a comma, %(asel)s them in braces, %(threshold)s,
// %(for)s and the alert's params its numbers (%% is a literal %).
local text(s) = std.rstripChars(s, '\n');
// fold joins a text block's lines with spaces, as YAML's >- does.
local fold(s) = std.join(' ', std.filter(function(l) l != '', std.split(s, '\n')));
// num prints a threshold as PromQL reads it, to 6 significant digits (%g).
local num(x) = '%g' % x;

{
  // records(c) is the recording rule groups for config c.
  records(c)::
    local v = { sel: c.selector, psel: std.get(c, 'probe_selector', c.selector) };
    [
    {
      name: 'netburst-sampler.rules',
      rules: [
        // Samples the sampler took per second.
        { record: 'instance:netburst_sampler_samples:rate1m', expr: 'rate(netburst_sampler_samples_total{%(sel)s}[1m])' % v },
        { record: 'instance:netburst_sampler_samples:rate5m', expr: 'rate(netburst_sampler_samples_total{%(sel)s}[5m])' % v },
        // Fraction of ticks that came late (overruns per sample taken).
        {
          record: 'instance:netburst_sampler_overruns:ratio_rate5m',
          expr: text(|||
            rate(netburst_sampler_overruns_total{%(sel)s}[5m])
            / on(instance, job) (instance:netburst_sampler_samples:rate5m > 0)
          |||) % v,
        },

        // Interfaces: the minute average, utilisation, and what the average hides.
        { record: 'instance_device:netburst_interface_bytes:rate1m', expr: 'rate(netburst_interface_bytes_total{%(sel)s}[1m])' % v },
        {
          record: 'instance_device:netburst_interface_utilisation:rate1m',
          expr: text(|||
            instance_device:netburst_interface_bytes:rate1m
            / ignoring(direction) group_left() (netburst_interface_speed_bytes{%(sel)s} > 0)
          |||) % v,
        },
        // Peak interval rate in each trailing window as a fraction of link speed.
        {
          record: 'instance_device:netburst_interface_peak_utilisation:ratio',
          expr: text(|||
            netburst_interface_peak_bytes_per_second{%(sel)s}
            / ignoring(direction, window) group_left() (netburst_interface_speed_bytes{%(sel)s} > 0)
          |||) % v,
        },
        // "What the minute average hides": the busiest sampler interval of the
        // last minute divided by that minute's average rate.
        {
          record: 'instance_device:netburst_interface_peak_to_average:ratio_rate1m',
          expr: text(|||
            netburst_interface_peak_bytes_per_second{%(sel)s, window="60s"}
            / ignoring(window) (instance_device:netburst_interface_bytes:rate1m > 0)
          |||) % v,
        },
        // Fraction of sampler intervals at or above the burst threshold.
        {
          record: 'instance_device:netburst_interface_burst_intervals:ratio_rate5m',
          expr: text(|||
            rate(netburst_interface_burst_intervals_total{%(sel)s}[5m])
            / ignoring(device, direction) group_left() (instance:netburst_sampler_samples:rate5m > 0)
          |||) % v,
        },
        { record: 'instance_device:netburst_qdisc_drops:rate5m', expr: 'rate(netburst_qdisc_drops_total{%(sel)s}[5m])' % v },
      ],
    },
    {
      name: 'netburst-probe.rules',
      rules: [
        {
          record: 'instance_target:netburst_probe_loss:ratio_rate5m',
          expr: text(|||
            rate(netburst_probe_lost_total{%(psel)s}[5m])
            / (rate(netburst_probe_sent_total{%(psel)s}[5m]) > 0)
          |||) % v,
        },
        { record: 'instance_target:netburst_probe_jitter_seconds:avg_over_time5m', expr: 'avg_over_time(netburst_probe_jitter_seconds{%(psel)s}[5m])' % v },
        { record: 'instance_target:netburst_probe_spikes:rate10m', expr: 'rate(netburst_probe_spikes_total{%(psel)s}[10m])' % v },
        // RTT quantiles, one series per quantile label (as kube-prometheus
        // records histogram_quantile).
        {
          record: 'instance_target_quantile:netburst_probe_rtt_seconds:histogram_quantile_rate5m',
          expr: text(|||
            histogram_quantile(0.5, rate(netburst_probe_rtt_seconds{%(psel)s}[5m]))
            or histogram_quantile(0.5, rate(netburst_probe_rtt_seconds_bucket{%(psel)s}[5m]))
          |||) % v,
          labels: {quantile: '0.5' },
        },
        {
          record: 'instance_target_quantile:netburst_probe_rtt_seconds:histogram_quantile_rate5m',
          expr: text(|||
            histogram_quantile(0.99, rate(netburst_probe_rtt_seconds{%(psel)s}[5m]))
            or histogram_quantile(0.99, rate(netburst_probe_rtt_seconds_bucket{%(psel)s}[5m]))
          |||) % v,
          labels: {quantile: '0.99' },
        },
      ],
    },
    {
      name: 'netburst-capture.rules',
      rules: [
        {
          record: 'instance_device:netburst_capture_kernel_drops:ratio_rate5m',
          expr: text(|||
            rate(netburst_capture_kernel_drops_total{%(sel)s}[5m])
            / ((rate(netburst_capture_packets_total{%(sel)s}[5m])
                + rate(netburst_capture_kernel_drops_total{%(sel)s}[5m])) > 0)
          |||) % v,
        },
      ],
    },
    {
      name: 'netburst-bond.rules',
      rules: [
        // Fraction of the time a slave was saturated while its bond was not: the
        // counter counts 1-second windows, at most one per second.
        { record: 'instance_device:netburst_bond_slave_saturated_intervals:rate5m', expr: 'rate(netburst_bond_slave_saturated_intervals_total{%(sel)s}[5m])' % v },
        { record: 'instance_bond:netburst_bond_slaves_up:count', expr: 'count by (instance, job, bond) (netburst_bond_slave_info{%(sel)s, mii_status="up"})' % v },
        // The bond device's own byte rate, labelled bond= instead of device=.
        {
          record: 'instance_bond:netburst_bond_bytes:rate5m',
          expr: text(|||
            sum without (device) (
              label_replace(rate(netburst_interface_bytes_total{%(sel)s}[5m]), "bond", "$1", "device", "(.+)")
              and on(instance, job, bond) netburst_bond_info{%(sel)s}
            )
          |||) % v,
        },
        // The busiest slave's 60s share times the number of up slaves: 1 is a
        // perfectly fair split, N means one slave carries everything.
        {
          record: 'instance_bond:netburst_bond_share_imbalance:ratio60s',
          expr: text(|||
            topk by (instance, job, bond, direction) (1, netburst_bond_slave_share_ratio{%(sel)s, window="60s"})
            * on(instance, job, bond) group_left() instance_bond:netburst_bond_slaves_up:count
          |||) % v,
        },
      ],
    },
  ],

  // alerts(c) is the alert groups for config c: every alert c configures
  // (for, severity, threshold, an optional selector and params), each
  // linking to its entry of c.runbook_url.
  alerts(c)::
    local alert(name, expr, summary, description, extra={}) =
      local a = c.alerts[name];
      local own = std.get(a, 'selector', '');
      local v = {
        sel: c.selector,
        psel: std.get(c, 'probe_selector', c.selector),
        andsel: if own == '' then '' else ', ' + own,
        asel: if own == '' then '' else '{' + own + '}',
        threshold: num(a.threshold),
        'for': a['for'],
      } + { [p]: num(a.params[p]) for p in std.objectFields(std.get(a, 'params', {})) };
      assert std.member(['critical', 'warning', 'info'], a.severity) : 'alert %s: severity %s: want critical, warning or info' % [name, a.severity];
      {
        alert: name,
        expr: text(expr % v),
        'for': a['for'],
        labels: { severity: a.severity },
        annotations: {
          summary: summary % v,
          description: fold(description % v),
          runbook_url: c.runbook_url + '#' + std.asciiLower(name),
        },
      };
    local groups = [
      {
        name: 'netburst-exporter',
        rules: [
          alert(
            'NetburstExporterDown',
            'up{%(sel)s%(andsel)s} == 0',
            'netburst exporter {{ $labels.instance }} is down',
            |||
              Prometheus could not scrape {{ $labels.instance }} (job {{ $labels.job }}) for
              %(for)s: no sub-second network data from that host.
            |||,
          ),
          alert(
            'NetburstExporterNotReady',
            |||
              up{%(sel)s%(andsel)s} == 1
              unless on(instance, job) (instance:netburst_sampler_samples:rate1m > %(threshold)s)
            |||,
            'netburst exporter {{ $labels.instance }} answers but does not sample',
            |||
              {{ $labels.instance }} answers scrapes but its sampler took no sample in the last
              minute (or exports no netburst_sampler_samples_total): its interface data is stale.
            |||,
          ),
          alert(
            'NetburstSamplerOverruns',
            'instance:netburst_sampler_overruns:ratio_rate5m%(asel)s > %(threshold)s',
            'netburst sampler on {{ $labels.instance }} misses ticks',
            |||
              {{ $value | humanizePercentage }} of the sampler's ticks on {{ $labels.instance }}
              came late over 5m (threshold %(threshold)s): peaks and bursts are measured over
              longer, uneven intervals.
            |||,
          ),
        ],
      },
      {
        name: 'netburst-interface',
        rules: [
          alert(
            'NetburstInterfaceBursting',
            'instance_device:netburst_interface_burst_intervals:ratio_rate5m%(asel)s > %(threshold)s',
            '{{ $labels.device }} on {{ $labels.instance }} bursts near line rate ({{ $labels.direction }})',
            |||
              {{ $value | humanizePercentage }} of the sampler intervals of {{ $labels.device }}
              ({{ $labels.direction }}) on {{ $labels.instance }} were at or above the burst
              threshold over 5m (threshold %(threshold)s), though the minute average may look calm.
            |||,
          ),
          alert(
            'NetburstQdiscDrops',
            'instance_device:netburst_qdisc_drops:rate5m%(asel)s > %(threshold)s',
            '{{ $labels.kind }} qdisc on {{ $labels.device }} ({{ $labels.instance }}) drops packets',
            |||
              The {{ $labels.kind }} qdisc of {{ $labels.device }} on {{ $labels.instance }} dropped
              {{ $value | humanize }} packets/s over 5m (threshold %(threshold)s/s): its queue overflows.
            |||,
          ),
        ],
      },
      {
        name: 'netburst-probe',
        rules: [
          alert(
            'NetburstHighJitter',
            'instance_target:netburst_probe_jitter_seconds:avg_over_time5m%(asel)s > %(threshold)s',
            'High jitter from {{ $labels.instance }} to {{ $labels.target }}',
            |||
              Echo jitter from {{ $labels.instance }} to {{ $labels.target }} averaged
              {{ $value | humanizeDuration }} over 5m (threshold %(threshold)ss).
            |||,
          ),
          alert(
            'NetburstRTTSpikes',
            'instance_target:netburst_probe_spikes:rate10m%(asel)s * 60 > %(threshold)s',
            'Frequent RTT spikes from {{ $labels.instance }} to {{ $labels.target }}',
            |||
              {{ $labels.instance }} saw {{ $value | printf "%%.2f" }} RTT spikes per minute to
              {{ $labels.target }} over 10m (threshold %(threshold)s per minute).
            |||,
          ),
          alert(
            'NetburstPacketLoss',
            'instance_target:netburst_probe_loss:ratio_rate5m%(asel)s > %(threshold)s',
            'Packet loss from {{ $labels.instance }} to {{ $labels.target }}',
            |||
              {{ $value | humanizePercentage }} of echo requests from {{ $labels.instance }} to
              {{ $labels.target }} got no reply in time over 5m (threshold %(threshold)s).
            |||,
          ),
          alert(
            'NetburstProbeCannotSend',
            'netburst_probe_send_failing{%(psel)s%(andsel)s} == 1',
            'netburst on {{ $labels.instance }} cannot send probes to {{ $labels.target }} ({{ $labels.cause }})',
            |||
              Probes to {{ $labels.target }} from {{ $labels.instance }} have been failing to leave
              the host for %(for)s (cause {{ $labels.cause }}): its loss and RTT say nothing about
              the network. The exporter's log says why and what to do.
            |||,
          ),
        ],
      },
      {
        name: 'netburst-capture',
        rules: [
          alert(
            'NetburstCaptureKernelDrops',
            'instance_device:netburst_capture_kernel_drops:ratio_rate5m%(asel)s > %(threshold)s',
            'Spike capture on {{ $labels.device }} ({{ $labels.instance }}) loses packets',
            |||
              The kernel dropped {{ $value | humanizePercentage }} of the packets for netburst's
              capture of {{ $labels.device }} on {{ $labels.instance }} over 5m (threshold
              %(threshold)s): spike reports and pcaps miss traffic.
            |||,
          ),
          alert(
            'NetburstCaptureDeviceDown',
            |||
              label_replace(netburst_locate_point_up{%(sel)s%(andsel)s}, "device", "$1", "point", "(.*)") == 0
              or netburst_capture_up{%(sel)s%(andsel)s} == 0
            |||,
            'Capture on {{ $labels.device }} ({{ $labels.instance }}) has been down for %(for)s',
            |||
              The interface {{ $labels.device }} that netburst on {{ $labels.instance }} captures (spike
              capture or live locate) has been gone, or of another link type, for %(for)s: no spike
              pcap or segment delay comes from it. The capture resumes by itself when an interface of
              that name returns.
            |||,
          ),
        ],
      },
      {
        name: 'netburst-bond',
        rules: [
          alert(
            'NetburstBondSlaveDown',
            'netburst_bond_slave_info{%(sel)s%(andsel)s, mii_status!~"up|unknown"} == 1',
            'Bond {{ $labels.bond }} slave {{ $labels.device }} on {{ $labels.instance }} is {{ $labels.mii_status }}',
            |||
              Slave {{ $labels.device }} of {{ $labels.bond }} on {{ $labels.instance }} has MII status
              {{ $labels.mii_status }} (state {{ $labels.state }}): the bond runs without it.
            |||,
          ),
          alert(
            'NetburstBondSlaveSaturated',
            'instance_device:netburst_bond_slave_saturated_intervals:rate5m%(asel)s > %(threshold)s',
            'Bond {{ $labels.bond }} slave {{ $labels.device }} on {{ $labels.instance }} saturated while the bond is not',
            |||
              {{ $labels.device }} ({{ $labels.direction }}) was saturated while {{ $labels.bond }}
              as a whole had room during {{ $value | humanizePercentage }} of the last 5m on
              {{ $labels.instance }} (threshold %(threshold)s): the hash policy piles traffic
              onto one slave.
            |||,
          ),
          alert(
            'NetburstBondImbalance',
            |||
              instance_bond:netburst_bond_share_imbalance:ratio60s%(asel)s > %(threshold)s
              and on(instance, job, bond, direction) instance_bond:netburst_bond_bytes:rate5m > %(min_bytes_per_second)s
              unless on(instance, job, bond) netburst_bond_info{%(sel)s, mode=~"active-backup.*|broadcast.*"}
            |||,
            'Bond {{ $labels.bond }} on {{ $labels.instance }} is unbalanced ({{ $labels.direction }})',
            |||
              {{ $labels.device }} carries {{ $value | printf "%%.2f" }} times its fair share of
              {{ $labels.bond }}'s {{ $labels.direction }} bytes on {{ $labels.instance }}
              (threshold %(threshold)s; 1 is an even split).
            |||,
          ),
          // An 802.3ad slave whose link is up but that carries nothing: outside
          // the active aggregator, or its LACP churned (reason says which).
          alert(
            'NetburstBondLACPDegraded',
            |||
              (
                label_replace(netburst_bond_slave_ad_aggregator_mismatch{%(sel)s%(andsel)s} == 1, "reason", "outside_aggregator", "", "")
                or
                label_replace(max by (instance, job, bond, device) (netburst_bond_slave_ad_churned{%(sel)s%(andsel)s}) == 1, "reason", "churned", "", "")
              )
              and on(instance, job, bond, device) netburst_bond_slave_info{%(sel)s, mii_status="up"}
            |||,
            'Bond {{ $labels.bond }} slave {{ $labels.device }} on {{ $labels.instance }} is up but out of LACP ({{ $labels.reason }})',
            |||
              Slave {{ $labels.device }} of the 802.3ad bond {{ $labels.bond }} on {{ $labels.instance }}
              has its link up but {{ if eq $labels.reason "churned" }}its LACP churned (actor or partner
              out of sync for over 60 s){{ else }}sits outside the bond's active aggregator{{ end }}: it
              carries no traffic and the bond runs below its speed.
            |||,
          ),
        ],
      },
    ];
    local defined = std.set([r.alert for g in groups for r in g.rules]);
    assert std.set(std.objectFields(c.alerts)) == defined : 'alerts configured but not defined: %s; defined but not configured: %s' % [std.setDiff(std.set(std.objectFields(c.alerts)), defined), std.setDiff(defined, std.set(std.objectFields(c.alerts)))];
    groups,
}
