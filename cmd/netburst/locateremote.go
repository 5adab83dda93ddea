package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/netburst/netburst/locate"
)

// exportersFromFileSD reads a Prometheus file_sd file (JSON, or YAML by
// its extension) listing exporters: each target host:port becomes
// NAME=http://host:port, in the file's order (the path's), NAME being the
// group's "name" label, else its "instance" label (a single-target group),
// else the target's host; a "__scheme__" label of https makes it https.
func exportersFromFileSD(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("--exporter=%s: %w", path, err)}
	}
	var groups []struct {
		Targets []string          `json:"targets" yaml:"targets"`
		Labels  map[string]string `json:"labels" yaml:"labels"`
	}
	if strings.HasSuffix(path, ".yml") || strings.HasSuffix(path, ".yaml") {
		err = yaml.Unmarshal(b, &groups)
	} else {
		err = json.Unmarshal(b, &groups)
	}
	if err != nil {
		return nil, usageError{fmt.Errorf("--exporter=%s: not a file_sd file: %w", path, err)}
	}
	var out []string
	for _, g := range groups {
		scheme := "http"
		if g.Labels["__scheme__"] == "https" {
			scheme = "https"
		}
		for _, t := range g.Targets {
			host, _, err := net.SplitHostPort(t)
			if err != nil {
				return nil, usageError{fmt.Errorf("--exporter=%s: target %q: want host:port", path, t)}
			}
			name := host
			if n := g.Labels["name"]; n != "" && len(g.Targets) == 1 {
				name = n
			} else if n := g.Labels["instance"]; n != "" && len(g.Targets) == 1 {
				name = n
			}
			out = append(out, strings.ReplaceAll(name, "/", "_")+"="+scheme+"://"+t)
		}
	}
	if len(out) == 0 {
		return nil, usageError{fmt.Errorf("--exporter=%s: no target", path)}
	}
	return out, nil
}

// remoteClient reads exporters' /api/v1/echoes.
type remoteClient struct {
	http           *http.Client
	user, password string
}

func (c *locateCmd) remoteClient() (*remoteClient, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--exporter-ca-file: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, usageError{fmt.Errorf("--exporter-ca-file=%s: no PEM certificate in it", c.caFile)}
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	rc := &remoteClient{http: &http.Client{Timeout: c.timeout, Transport: tr}, user: c.user}
	if c.pwFile != "" {
		b, err := os.ReadFile(c.pwFile)
		if err != nil {
			return nil, usageError{fmt.Errorf("--exporter-password-file: %w", err)}
		}
		rc.password, _, _ = strings.Cut(string(b), "\n")
	}
	if c.timeout <= 0 {
		return nil, usageError{fmt.Errorf("--timeout=%v must be above 0", c.timeout)}
	}
	return rc, nil
}

// echoPage is how many observations one request asks for.
const echoPage = 100000

// remoteEchoes is what one exporter gave: its run, its points, the
// observations read, the cursor to go on from, and how many its ring had
// lost before they were read.
type remoteEchoes struct {
	run    string
	points []string
	obs    []locate.Observation
	next   uint64
	missed uint64
	// restarted is set when the exporter's run changed since the cursor
	// given (a restart): the cursor started again.
	restarted bool
}

// of returns the observations of the exporter's point i.
func (e *remoteEchoes) of(i int) []locate.Observation {
	var out []locate.Observation
	for _, o := range e.obs {
		if o.Point == i {
			out = append(out, o)
		}
	}
	return out
}

// fetch reads the observations of exporter name at url after from (nil:
// everything its ring holds), page by page.
func (rc *remoteClient) fetch(ctx context.Context, name, url string, from *remoteEchoes) (*remoteEchoes, error) {
	var since uint64
	if from != nil {
		since = from.next
	}
	out := &remoteEchoes{}
	for {
		b, err := rc.page(ctx, name, url, since)
		if err != nil {
			return nil, err
		}
		switch {
		case out.run == "":
			out.run, out.points = b.Run, b.Points
			if from != nil && from.run != b.Run {
				// Restarted: its cursors began again; read this run from
				// its start.
				out.restarted = true
				if since != 0 {
					since = 0
					continue
				}
			}
		case b.Run != out.run:
			return nil, fmt.Errorf("exporter %s at %s restarted while it was read", name, url)
		}
		out.obs = append(out.obs, b.Echoes...)
		out.missed += b.Missed
		out.next = b.Next
		if !b.More {
			return out, nil
		}
		since = b.Next
	}
}

// page is one GET of /api/v1/echoes.
func (rc *remoteClient) page(ctx context.Context, name, url string, since uint64) (*locate.EchoBatch, error) {
	addr := url + "/api/v1/echoes?since=" + strconv.FormatUint(since, 10) + "&limit=" + strconv.Itoa(echoPage)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, addr, nil)
	if err != nil {
		return nil, fmt.Errorf("exporter %s: %w", name, err)
	}
	if rc.user != "" {
		req.SetBasicAuth(rc.user, rc.password)
	}
	resp, err := rc.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("exporter %s at %s: %w", name, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("exporter %s at %s: %w", name, url, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("exporter %s at %s: 401 Unauthorized: give --exporter-user and --exporter-password-file", name, url)
	case http.StatusNotFound:
		return nil, fmt.Errorf("exporter %s at %s: no /api/v1/echoes (it needs --locate.points, and --locate.echo-ring above 0)", name, url)
	default:
		return nil, fmt.Errorf("exporter %s at %s: %s: %s", name, url, resp.Status, strings.TrimSpace(string(body)))
	}
	b, err := locate.ParseEchoBatch(body)
	if err != nil {
		return nil, fmt.Errorf("exporter %s at %s: %w", name, url, err)
	}
	return b, nil
}

// expandRemote replaces each exporter by its points, NAME/IFNAME in its
// order on its clock; an exporter that could not be read is left out.
// Fewer than two points left is an error.
func expandRemote(specs []pointSpec, fetched map[string]*remoteEchoes) ([]pointSpec, error) {
	var out []pointSpec
	for _, s := range specs {
		if s.url == "" {
			out = append(out, s)
			continue
		}
		e := fetched[s.exporter]
		if e == nil {
			continue
		}
		for i, p := range e.points {
			out = append(out, pointSpec{name: s.exporter + "/" + p, file: s.url + " (" + p + ")", clock: s.exporter, url: s.url, exporter: s.exporter, index: i})
		}
	}
	if len(out) < 2 {
		return nil, fmt.Errorf("%d capture point(s) left of %d given: need two", len(out), len(specs))
	}
	if len(out) > locate.MaxPoints {
		return nil, usageError{fmt.Errorf("at most %d capture points, the exporters give %d", locate.MaxPoints, len(out))}
	}
	return out, nil
}

// runFollow analyses each --window of new echoes until ctx ends, printing
// a report per window. The first window starts from now: the exporters'
// rings are read up to their newest first.
func (c *locateCmd) runFollow(ctx context.Context, out io.Writer, warn warnFunc, specs []pointSpec, rc *remoteClient) error {
	cursors := map[string]*remoteEchoes{}
	for _, s := range specs {
		e, err := rc.fetch(ctx, s.exporter, s.url, nil)
		if err != nil {
			warn("%v: left out until it answers", err)
			continue
		}
		e.obs, e.missed = nil, 0 // the past is not this window's
		cursors[s.exporter] = e
	}
	tick := time.NewTicker(c.window)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-tick.C:
			fetched := map[string]*remoteEchoes{}
			for _, s := range specs {
				e, err := rc.fetch(ctx, s.exporter, s.url, cursors[s.exporter])
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					warn("%v: left out of this window", err)
					continue
				}
				if e.restarted && cursors[s.exporter] != nil {
					warn("exporter %s restarted: its cursor started again (its echoes before the restart are gone)", s.exporter)
				}
				if e.missed > 0 {
					warn("exporter %s: %d observations left its ring before they were read: a gap in this window (shorten --window or raise its --locate.echo-ring)", s.exporter, e.missed)
				}
				cursors[s.exporter] = e
				fetched[s.exporter] = e
			}
			fmt.Fprintf(out, "=== window ending %s (%v)\\n", now.UTC().Format("15:04:05"), c.window)
			ws, err := expandRemote(specs, fetched)
			if err == nil {
				err = c.analyze(ctx, out, warn, ws, fetched)
			}
			if err != nil {
				if errors.Is(err, context.Canceled) {
					return nil
				}
				// One quiet window is not the end of following.
				fmt.Fprintf(out, "no verdict: %v\\n", err)
			}
			fmt.Fprintln(out)
		}
	}
}
