package main

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netburst/netburst/locate"
)

// fakeExporter serves /api/v1/echoes from a ring it is given, and can be
// "restarted" (a new ring, a new run).
type fakeExporter struct {
	mu     sync.Mutex
	ring   *locate.EchoRing
	points []string
	auth   string // the Authorization header it wants ("" none)
}

func (f *fakeExporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.auth != "" && r.Header.Get("Authorization") != f.auth {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	ring := f.ring
	f.mu.Unlock()
	since, _ := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	echoes, next, missed := ring.Since(nil, since, limit+1)
	b := locate.EchoBatch{Run: ring.Run(), Points: f.points}
	if len(echoes) > limit {
		echoes, next, b.More = echoes[:limit], next-1, true
	}
	b.Echoes, b.Next, b.Missed = echoes, next, missed
	w.Write(b.AppendJSON(nil))
}

func (f *fakeExporter) add(n int, seq0 int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range n {
		f.ring.Add(&locate.Observation{Point: i % 2, Time: time.Unix(1700000000, int64(seq0+i)), ID: 1, Seq: uint16(seq0 + i),
			Src: netip.MustParseAddr("198.18.0.1"), Dst: netip.MustParseAddr("198.18.0.14")})
	}
}

// TestRemoteFetch holds the client's handling of an exporter's cursors: it
// reads every page, goes on from its cursor, notices a restart (another
// run: the cursor starts again) and a ring overrun (a gap), and names an
// exporter that refuses it.
func TestRemoteFetch(t *testing.T) {
	f := &fakeExporter{ring: locate.NewEchoRing(16), points: []string{"eth0", "vif"}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	rc := &remoteClient{http: srv.Client()}
	ctx := context.Background()
	f.add(10, 0)
	e, err := rc.fetch(ctx, "hv_b", srv.URL, nil)
	if err != nil || len(e.obs) != 10 || e.next != 10 || e.missed != 0 || e.restarted || strings.Join(e.points, ",") != "eth0,vif" {
		t.Fatalf("first read: %+v, %v", e, err)
	}
	f.add(3, 10)
	if e2, err := rc.fetch(ctx, "hv_b", srv.URL, e); err != nil || len(e2.obs) != 3 || e2.obs[0].Seq != 10 || e2.next != 13 {
		t.Fatalf("go on from the cursor: %+v, %v", e2, err)
	} else {
		e = e2
	}
	f.add(30, 13) // the ring holds 16: 14 of these 30 after cursor 13 are gone
	if e2, err := rc.fetch(ctx, "hv_b", srv.URL, e); err != nil || e2.missed != 14 || len(e2.obs) != 16 {
		t.Fatalf("after an overrun: missed %d, %d observations, %v; want 14 and 16", e2.missed, len(e2.obs), err)
	} else {
		e = e2
	}
	// Restarted: a new run whose cursors begin again, below ours.
	f.mu.Lock()
	f.ring = locate.NewEchoRing(16)
	f.mu.Unlock()
	f.add(4, 100)
	if e2, err := rc.fetch(ctx, "hv_b", srv.URL, e); err != nil || !e2.restarted || len(e2.obs) != 4 || e2.obs[0].Seq != 100 || e2.next != 4 {
		t.Fatalf("after a restart: %+v, %v; want restarted and the new run's 4", e2, err)
	}
	// Pages: more than one request's worth is read whole.
	big := &fakeExporter{ring: locate.NewEchoRing(echoPage * 3), points: []string{"a", "b"}}
	big.add(echoPage+5, 0)
	bsrv := httptest.NewServer(big)
	defer bsrv.Close()
	if e, err := (&remoteClient{http: bsrv.Client()}).fetch(ctx, "big", bsrv.URL, nil); err != nil || len(e.obs) != echoPage+5 {
		t.Fatalf("two pages: %d observations, %v", len(e.obs), err)
	}
	// Refusals name the exporter.
	f.auth = "Basic x"
	if _, err := rc.fetch(ctx, "hv_b", srv.URL, nil); err == nil || !strings.Contains(err.Error(), "exporter hv_b at "+srv.URL+": 401 Unauthorized: give --exporter-user") {
		t.Errorf("401: %v", err)
	}
	none := httptest.NewServer(http.NotFoundHandler())
	defer none.Close()
	if _, err := rc.fetch(ctx, "plain", none.URL, nil); err == nil || !strings.Contains(err.Error(), "no /api/v1/echoes (it needs --locate.points") {
		t.Errorf("404: %v", err)
	}
}

// TestExportersFileSD: --exporter takes a Prometheus file_sd file, its
// targets in the file's order, named by the name or instance label of a
// single-target group, else by the host.
func TestExportersFileSD(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "hv.json")
	if err := os.WriteFile(js, []byte(`[{"targets": ["hv-a.example:9917"], "labels": {"name": "hv_a"}},
 {"targets": ["198.18.0.10:9917", "198.18.0.20:9917"], "labels": {"rack": "r1"}},
 {"targets": ["hv-c.example:9917"], "labels": {"__scheme__": "https", "instance": "hv_c"}}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	yml := filepath.Join(dir, "hv.yml")
	if err := os.WriteFile(yml, []byte("- targets: ['198.18.0.30:9917']\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &locateCmd{exporters: []string{js, yml}, tolerance: time.Millisecond, maxAge: time.Second, maxPending: 1, maxEchoes: 1, timeout: time.Second}
	specs, err := c.parse()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range specs {
		got = append(got, s.name+"="+s.url)
	}
	want := "hv_a=http://hv-a.example:9917 198.18.0.10=http://198.18.0.10:9917 198.18.0.20=http://198.18.0.20:9917 hv_c=https://hv-c.example:9917 198.18.0.30=http://198.18.0.30:9917"
	if strings.Join(got, " ") != want {
		t.Errorf("exporters %s\nwant      %s", strings.Join(got, " "), want)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"targets": ["no-port"]}]`), 0o600)
	if _, err := (&locateCmd{exporters: []string{bad}}).parse(); err == nil || !strings.Contains(err.Error(), `target "no-port": want host:port`) {
		t.Errorf("bad target: %v", err)
	}
}

// TestRemoteTLS: an https exporter is verified with --exporter-ca-file.
func TestRemoteTLS(t *testing.T) {
	f := &fakeExporter{ring: locate.NewEchoRing(4), points: []string{"a", "b"}}
	f.add(2, 0)
	srv := httptest.NewTLSServer(f)
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		ca   string
		fail bool
	}{{"", true}, {ca, false}} {
		rc, err := (&locateCmd{caFile: tt.ca, timeout: 5 * time.Second}).remoteClient()
		if err != nil {
			t.Fatal(err)
		}
		_, err = rc.fetch(context.Background(), "hv", srv.URL, nil)
		if (err != nil) != tt.fail {
			t.Errorf("CA %q: %v", tt.ca, err)
		}
	}
}
