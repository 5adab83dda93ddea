package promstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/internal/nstest"
)

// ErrTimeout is returned by the Wait functions when the condition did not
// come true in time.
var ErrTimeout = errors.New("timed out")

// Options configure a Stack.
type Options struct {
	// Job is the scrape job's name; the rules select job="netburst" by default.
	Job string
	// Targets are host:port addresses scraped under Job.
	Targets []string
	// RuleFiles are the rule files Prometheus loads.
	RuleFiles []string
	// Interval is the scrape and evaluation interval (default 1s).
	Interval time.Duration
	// Scrape holds more fields of the job's scrape config (metrics_path,
	// params, file_sd_configs, relabel_configs, ...), set over the
	// defaults; without Targets there is no static_configs.
	Scrape map[string]any
}

// Stack is a running Prometheus and Alertmanager.
type Stack struct {
	// PrometheusURL and AlertmanagerURL are the servers' base addresses.
	PrometheusURL, AlertmanagerURL string

	client *http.Client
	mu     sync.Mutex
	hooks  []WebhookAlert
}

// WebhookAlert is one alert of a notification Alertmanager posted to the
// test's webhook receiver.
type WebhookAlert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

// Alert is one alert of Prometheus' /api/v1/alerts.
type Alert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
}

// Sample is one element of an instant query's vector result.
type Sample struct {
	Metric map[string]string
	Value  float64
}

// binary finds the first of names in PATH, skipping the test (failing it
// under CI) when none is there.
func binary(t testing.TB, names ...string) string {
	t.Helper()
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s not found in PATH under CI: .ci/run must install it", strings.Join(names, " or "))
	}
	t.Skipf("skipping: %s not found in PATH (apt-get install prometheus prometheus-alertmanager)", strings.Join(names, " or "))
	return ""
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start runs Alertmanager, the webhook receiver and Prometheus, and waits
// until both servers are ready.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	promBin := binary(t, "prometheus")
	amBin := binary(t, "prometheus-alertmanager", "alertmanager")
	if opts.Job == "" {
		opts.Job = "netburst"
	}
	if opts.Interval == 0 {
		opts.Interval = time.Second
	}
	s := &Stack{client: &http.Client{Timeout: 5 * time.Second}}
	dir := t.TempDir()

	hook := httptest.NewServer(http.HandlerFunc(s.webhook))
	t.Cleanup(hook.Close)

	amConf := map[string]any{
		"route": map[string]any{
			"receiver": "test", "group_by": []string{"..."},
			"group_wait": "1s", "group_interval": "1s", "repeat_interval": "1h",
		},
		"receivers": []any{map[string]any{
			"name":            "test",
			"webhook_configs": []any{map[string]any{"url": hook.URL + "/hook", "send_resolved": true}},
		}},
	}
	amAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	amConfPath := writeYAML(t, filepath.Join(dir, "alertmanager.yml"), amConf)
	s.AlertmanagerURL = "http://" + amAddr
	Run(t, dir, "alertmanager", amBin,
		"--config.file="+amConfPath,
		"--storage.path="+filepath.Join(dir, "am-data"),
		"--web.listen-address="+amAddr,
		"--cluster.listen-address=", // no HA gossip
	)
	WaitReady(t, s.client, s.AlertmanagerURL)

	promConf := map[string]any{
		"global": map[string]any{
			"scrape_interval": opts.Interval.String(), "evaluation_interval": opts.Interval.String(),
			"scrape_timeout": opts.Interval.String(),
		},
		"rule_files": opts.RuleFiles,
		"alerting": map[string]any{"alertmanagers": []any{map[string]any{
			"static_configs": []any{map[string]any{"targets": []string{amAddr}}},
		}}},
		"scrape_configs": []any{scrapeConfig(t, promBin, opts)},
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	promConfPath := writeYAML(t, filepath.Join(dir, "prometheus.yml"), promConf)
	s.PrometheusURL = "http://" + promAddr
	Run(t, dir, "prometheus", promBin,
		"--config.file="+promConfPath,
		"--storage.tsdb.path="+filepath.Join(dir, "prom-data"),
		"--web.listen-address="+promAddr,
		"--enable-feature=native-histograms",
		"--rules.alert.resend-delay=1s",
	)
	WaitReady(t, s.client, s.PrometheusURL)
	return s
}

// scrapeConfig returns the job's scrape config. Native histograms: 2.x and
// 3.0-3.8 ingest them with --enable-feature=native-histograms (always
// passed); 3.9 and later ignore that flag and need scrape_native_histograms,
// a field older versions reject, so the version decides.
func scrapeConfig(t testing.TB, promBin string, opts Options) map[string]any {
	t.Helper()
	sc := map[string]any{"job_name": opts.Job}
	if len(opts.Targets) > 0 {
		sc["static_configs"] = []any{map[string]any{"targets": opts.Targets}}
	}
	for k, v := range opts.Scrape {
		sc[k] = v
	}
	out, err := exec.Command(promBin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("prometheus --version: %v: %s", err, out)
	}
	var major, minor int
	if _, err := fmt.Sscanf(string(bytes.TrimPrefix(bytes.TrimSpace(out), []byte("prometheus, "))), "version %d.%d", &major, &minor); err != nil {
		t.Fatalf("prometheus --version: cannot read %q: %v", out, err)
	}
	if major > 3 || major == 3 && minor >= 9 {
		sc["scrape_native_histograms"] = true
		sc["scrape_protocols"] = []string{"PrometheusProto", "OpenMetricsText1.0.0", "PrometheusText0.0.4"}
	}
	return sc
}

func writeYAML(t testing.TB, path string, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Run runs a server in dir, logging to dir/name.log whose tail the test
// prints when it fails, and stops it with SIGTERM (then SIGKILL) at
// cleanup. Start uses it for Prometheus and Alertmanager.
func Run(t testing.TB, dir, name, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("%s log (tail):\n%s", name, b)
		}
	})
}

// WaitReady polls base/-/ready with client until it answers 200, for at
// most 30 s.
func WaitReady(t testing.TB, client *http.Client, base string) {
	t.Helper()
	nstest.Eventually(t, 30*time.Second, func() (bool, string) {
		resp, err := client.Get(base + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true, ""
			}
			err = errors.New(resp.Status)
		}
		return false, fmt.Sprintf("%s not ready: %v", base, err)
	})
}

func (s *Stack) webhook(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []WebhookAlert `json:"alerts"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.hooks = append(s.hooks, msg.Alerts...)
	s.mu.Unlock()
}

// Webhooks returns a copy of every alert the webhook received so far.
func (s *Stack) Webhooks() []WebhookAlert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebhookAlert(nil), s.hooks...)
}

// get decodes a Prometheus API answer's data field into v.
func (s *Stack) get(ctx context.Context, path string, q url.Values, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.PrometheusURL+path+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	var env struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("GET %s: %w: %s", path, err, bytes.TrimSpace(body))
	}
	if env.Status != "success" {
		return fmt.Errorf("GET %s: %s", path, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

// Alerts returns Prometheus' active (pending and firing) alerts.
func (s *Stack) Alerts(ctx context.Context) ([]Alert, error) {
	var data struct {
		Alerts []Alert `json:"alerts"`
	}
	err := s.get(ctx, "/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// Query evaluates an instant query; only vector results are supported.
func (s *Stack) Query(ctx context.Context, expr string) ([]Sample, error) {
	var data struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		} `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	if data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", expr, data.ResultType)
	}
	out := make([]Sample, 0, len(data.Result))
	for _, r := range data.Result {
		str, _ := r.Value[1].(string)
		var f float64
		if _, err := fmt.Sscan(str, &f); err != nil {
			return nil, fmt.Errorf("query %q: value %q: %w", expr, str, err)
		}
		out = append(out, Sample{Metric: r.Metric, Value: f})
	}
	return out, nil
}

// matches reports whether have holds every label of want.
func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

// poll calls f every 250 ms until it returns true, an error, or ctx ends.
func poll(ctx context.Context, what string, f func() (bool, error)) error {
	for {
		ok, err := f()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w waiting for %s", ErrTimeout, what)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// WaitAlert waits until Prometheus has an alert with all the given labels
// (alertname among them) in the given state ("pending" or "firing").
func (s *Stack) WaitAlert(ctx context.Context, labels map[string]string, state string) (Alert, error) {
	var found Alert
	err := poll(ctx, fmt.Sprintf("%s alert %v", state, labels), func() (bool, error) {
		alerts, err := s.Alerts(ctx)
		if err != nil {
			return false, err
		}
		for _, a := range alerts {
			if a.State == state && matches(a.Labels, labels) {
				found = a
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}

// WaitWebhook waits until the webhook received an alert with all the given
// labels and the given status ("firing" or "resolved").
func (s *Stack) WaitWebhook(ctx context.Context, labels map[string]string, status string) (WebhookAlert, error) {
	var found WebhookAlert
	err := poll(ctx, fmt.Sprintf("webhook %s alert %v", status, labels), func() (bool, error) {
		for _, a := range s.Webhooks() {
			if a.Status == status && matches(a.Labels, labels) {
				found = a
				return true, nil
			}
		}
		return false, nil
	})
	return found, err
}

// WaitQuery waits until an instant query returns a non-empty vector for
// which ok is true, and returns it.
func (s *Stack) WaitQuery(ctx context.Context, expr string, ok func([]Sample) bool) ([]Sample, error) {
	var last []Sample
	err := poll(ctx, fmt.Sprintf("query %q", expr), func() (bool, error) {
		r, err := s.Query(ctx, expr)
		if err != nil {
			return false, err
		}
		last = r
		return len(r) > 0 && ok(r), nil
	})
	if err != nil {
		return last, fmt.Errorf("%w (last result %v)", err, last)
	}
	return last, nil
}
