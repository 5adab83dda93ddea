// netburst's monitoring mixin (monitoring.mixins.dev): its alerts, recording
// rules and Grafana dashboards, and the _config they are made from.
//
//   jb install github.com/netburst/netburst@main
//   local netburst = (import 'github.com/netburst/netburst/mixin.libsonnet') + {
//     _config+:: { selector: 'job="netburst-exporter"' },
//   };
//   { 'netburst-rules.yaml': std.manifestYamlDoc(netburst.prometheusRules + netburst.prometheusAlerts) }
//
// With the default _config (alerts/config.libsonnet) the rules are exactly
// alerts/netburst-rules.yml and the dashboards exactly dashboards/*.json:
// `go test ./alerts` holds that.
local rules = import 'alerts/rules.libsonnet';

{
  _config+:: import 'alerts/config.libsonnet',

  prometheusRules+:: { groups+: rules.records($._config) },
  prometheusAlerts+:: { groups+: rules.alerts($._config) },

  // The dashboards select the exporter's job with their own $job variable.
  grafanaDashboards+:: {
    'netburst-bonds.json': import 'dashboards/bonds.json',
    'netburst-latency.json': import 'dashboards/latency.json',
    'netburst-overview.json': import 'dashboards/overview.json',
    'netburst-spikes.json': import 'dashboards/spikes.json',
  },
}
