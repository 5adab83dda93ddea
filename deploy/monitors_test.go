package deploy

import (
	"path/filepath"
	"testing"

	"github.com/netburst/netburst/alerts"
)

type k8sMonitor struct {
	Metadata struct {
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		ClusterIP string `yaml:"clusterIP"`
		Ports     []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
		Endpoints           []k8sEndpoint `yaml:"endpoints"`
		PodMetricsEndpoints []k8sEndpoint `yaml:"podMetricsEndpoints"`
	} `yaml:"spec"`
}

type k8sEndpoint struct {
	Port        string `yaml:"port"`
	Path        string `yaml:"path"`
	Interval    string `yaml:"interval"`
	Relabelings []struct {
		SourceLabels []string `yaml:"sourceLabels"`
		TargetLabel  string   `yaml:"targetLabel"`
		Replacement  string   `yaml:"replacement"`
	} `yaml:"relabelings"`
}

// TestOperatorMonitors: the PodMonitor and the ServiceMonitor (with its
// Service) select the DaemonSet's pods and scrape the port it names, at
// the metrics path, naming each instance after its node and the job as the
// shipped rules select it.
func TestOperatorMonitors(t *testing.T) {
	job := rulesSelectorJob(t)
	ds := readK8s[struct {
		Spec struct {
			Template struct {
				Metadata struct {
					Labels map[string]string `yaml:"labels"`
				} `yaml:"metadata"`
				Spec struct {
					Containers []struct {
						Ports []struct {
							Name          string `yaml:"name"`
							ContainerPort int    `yaml:"containerPort"`
						} `yaml:"ports"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}](t, filepath.Join("kubernetes", "daemonset.yaml"), "DaemonSet").Spec.Template
	podLabels := ds.Metadata.Labels
	ports := map[string]int{}
	for _, p := range ds.Spec.Containers[0].Ports {
		ports[p.Name] = p.ContainerPort
	}
	selects := func(what string, sel map[string]string) {
		t.Helper()
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", what)
		}
		for k, v := range sel {
			if podLabels[k] != v {
				t.Errorf("%s selects %s=%s; the DaemonSet's pods have %v", what, k, v, podLabels)
			}
		}
	}
	checkEndpoints := func(what string, eps []k8sEndpoint) {
		t.Helper()
		if len(eps) != 1 {
			t.Fatalf("%s: %d endpoints, want 1", what, len(eps))
		}
		ep := eps[0]
		if _, ok := ports[ep.Port]; !ok || ep.Path != "/metrics" || ep.Interval == "" {
			t.Errorf("%s scrapes port %q path %q every %q; the pods' ports are %v", what, ep.Port, ep.Path, ep.Interval, ports)
		}
		r := ep.Relabelings
		if len(r) != 2 || r[0].TargetLabel != "instance" || len(r[0].SourceLabels) != 1 || r[0].SourceLabels[0] != "__meta_kubernetes_pod_node_name" ||
			r[1].TargetLabel != "job" || len(r[1].SourceLabels) != 0 || r[1].Replacement != job {
			t.Errorf("%s: relabelings %+v, want instance from the node name and job %q, the rules' (alerts/%s)", what, r, job, alerts.ConfigFile)
		}
	}
	pm := readK8s[k8sMonitor](t, filepath.Join("kubernetes", "podmonitor.yaml"), "PodMonitor")
	selects("PodMonitor", pm.Spec.Selector.MatchLabels)
	checkEndpoints("PodMonitor", pm.Spec.PodMetricsEndpoints)

	svc := readK8s[k8sMonitor](t, filepath.Join("kubernetes", "servicemonitor.yaml"), "Service")
	sm := readK8s[k8sMonitor](t, filepath.Join("kubernetes", "servicemonitor.yaml"), "ServiceMonitor")
	// A Service's selector is a plain map, not matchLabels.
	svcSel := readK8s[struct {
		Spec struct {
			Selector map[string]string `yaml:"selector"`
		} `yaml:"spec"`
	}](t, filepath.Join("kubernetes", "servicemonitor.yaml"), "Service").Spec.Selector
	selects("Service", svcSel)
	if svc.Spec.ClusterIP != "None" || len(svc.Spec.Ports) != 1 || ports[svc.Spec.Ports[0].TargetPort] != svc.Spec.Ports[0].Port {
		t.Errorf("Service: clusterIP %q, ports %+v; want headless, targetPort a named container port of the same number (%v)", svc.Spec.ClusterIP, svc.Spec.Ports, ports)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Metadata.Labels[k] != v {
			t.Errorf("ServiceMonitor selects Services with %s=%s; the Service has %v", k, v, svc.Metadata.Labels)
		}
	}
	checkEndpoints("ServiceMonitor", sm.Spec.Endpoints)
	if sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("ServiceMonitor scrapes port %q; the Service's is %q", sm.Spec.Endpoints[0].Port, svc.Spec.Ports[0].Name)
	}
}
