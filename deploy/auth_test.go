package deploy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/internal/nstest"
)

// k8sContainer is the part of a container spec the auth check reads.
type k8sContainer struct {
	Name           string   `yaml:"name"`
	Args           []string `yaml:"args"`
	ReadinessProbe k8sProbe `yaml:"readinessProbe"`
	LivenessProbe  k8sProbe `yaml:"livenessProbe"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path        string `yaml:"path"`
		HTTPHeaders []struct {
			Name  string `yaml:"name"`
			Value string `yaml:"value"`
		} `yaml:"httpHeaders"`
	} `yaml:"httpGet"`
}

type k8sPodTemplate struct {
	Spec struct {
		Template struct {
			Spec struct {
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

// readK8s decodes the document of kind (or the first, for a patch) of a
// manifest.
func readK8s[T any](t *testing.T, path, kind string) T {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var node yaml.Node
		if err := dec.Decode(&node); err != nil {
			t.Fatalf("%s: no document of kind %q (%v)", path, kind, err)
		}
		var head struct {
			Kind string `yaml:"kind"`
		}
		if err := node.Decode(&head); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if head.Kind == kind {
			var out T
			if err := node.Decode(&out); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			return out
		}
	}
}

// TestBasicAuthProbes runs the exporter with the web config of
// kubernetes/basic-auth.yaml and sends the kubelet's probes exactly as
// kubernetes/basic-auth-patch.yaml spells them: they must pass, the same
// requests without the header must not, and the patch must keep every
// argument of the DaemonSet (a patch replaces args whole).
func TestBasicAuthProbes(t *testing.T) {
	base := readK8s[k8sPodTemplate](t, filepath.Join("kubernetes", "daemonset.yaml"), "DaemonSet").Spec.Template.Spec.Containers
	patch := readK8s[k8sPodTemplate](t, filepath.Join("kubernetes", "basic-auth-patch.yaml"), "").Spec.Template.Spec.Containers
	if len(base) != 1 || len(patch) != 1 || patch[0].Name != base[0].Name {
		t.Fatalf("want one container of the same name in the DaemonSet and the patch, got %d and %d", len(base), len(patch))
	}
	for _, a := range base[0].Args {
		if !slices.Contains(patch[0].Args, a) {
			t.Errorf("basic-auth-patch.yaml drops the DaemonSet's argument %s", a)
		}
	}
	if !slices.Contains(patch[0].Args, "--web.config.file=/etc/netburst/web-config.yml") {
		t.Errorf("the patch's args %v do not set --web.config.file", patch[0].Args)
	}
	secret := readK8s[struct {
		StringData map[string]string `yaml:"stringData"`
	}](t, filepath.Join("kubernetes", "basic-auth.yaml"), "Secret")
	webConfig := filepath.Join(t.TempDir(), "web-config.yml")
	if err := os.WriteFile(webConfig, []byte(secret.StringData["web-config.yml"]), 0o600); err != nil {
		t.Fatal(err)
	}

	bin := buildExporter(t)
	addr := freeAddr(t)
	// os/exec writes stderr from a goroutine of its own while the test
	// reads it: a LogBuffer, not a plain bytes.Buffer, which would race.
	stderr := &nstest.LogBuffer{}
	cmd := exec.Command(bin, "--web.listen-address="+addr, "--web.config.file="+webConfig, "--log.level=warn")
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})

	get := func(path string, header http.Header) (int, error) {
		req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	probes := []struct {
		name  string
		probe k8sProbe
	}{{"readiness", patch[0].ReadinessProbe}, {"liveness", patch[0].LivenessProbe}}
	for _, p := range probes {
		h := http.Header{}
		for _, kv := range p.probe.HTTPGet.HTTPHeaders {
			h.Set(kv.Name, kv.Value)
		}
		if h.Get("Authorization") == "" {
			t.Errorf("%s probe sends no Authorization header", p.name)
			continue
		}
		// Until the first sample /-/ready answers 503; the deadline is for
		// the exporter's start, not a timing claim.
		var code int
		nstest.Poll(20*time.Second, func() (bool, string) {
			var err error
			code, err = get(p.probe.HTTPGet.Path, h)
			return err == nil && code == http.StatusOK, fmt.Sprint(code, err)
		})
		if code != http.StatusOK {
			t.Errorf("%s probe GET %s with its header: %d; want 200\nexporter: %s", p.name, p.probe.HTTPGet.Path, code, stderr.String())
		}
		if code, err := get(p.probe.HTTPGet.Path, http.Header{}); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, %v; want 401", p.probe.HTTPGet.Path, code, err)
		}
	}
	// The scrape user of the Secret's comment, as Prometheus would send it.
	h := http.Header{}
	h.Set("Authorization", "Basic "+basic("prometheus", "change-me-scrape"))
	if code, err := get("/metrics", h); err != nil || code != http.StatusOK {
		t.Errorf("GET /metrics as prometheus: %d, %v; want 200", code, err)
	}
	// The pages and the JSON API (spike pcaps hold who talks to whom) sit
	// behind the same authentication.
	for _, path := range []string{"/", "/spikes", "/api/v1/spikes", "/api/v1/stream", "/metrics"} {
		if code, err := get(path, http.Header{}); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d, %v; want 401", path, code, err)
		}
	}
	if code, err := get("/spikes", h); err != nil || code != http.StatusOK {
		t.Errorf("GET /spikes as prometheus: %d, %v; want 200", code, err)
	}
	if strings.Contains(stderr.String(), "level=ERROR") {
		t.Errorf("exporter logged errors:\n%s", stderr.String())
	}
}

func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// buildExporter builds netburst_exporter into the test's temporary
// directory.
func buildExporter(t *testing.T) string {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("skipping: no go command to build netburst_exporter")
	}
	bin := filepath.Join(t.TempDir(), "netburst_exporter")
	build := exec.Command(goBin, "build", "-o", bin, "github.com/netburst/netburst/cmd/netburst_exporter")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
