package main

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"

	"github.com/prometheus/exporter-toolkit/web"
)

// reservedPaths are served by the exporter itself: the metrics cannot
// take their place.
var reservedPaths = []string{"/-/healthy", "/-/ready", "/-/reload", spikesPath}

// checkWebFlags refuses, before anything starts, what the web server would
// otherwise fail on later (or panic on): a metrics path that is not a
// path, a listen address that is not one, a web config file that does not
// parse. All are usage errors: exit 2.
func checkWebFlags(o *options) error {
	p := o.metricsPath
	switch {
	case !strings.HasPrefix(p, "/"):
		return usageError{fmt.Errorf("--web.telemetry-path=%s: must start with / (e.g. /%s)", p, p)}
	case strings.ContainsAny(p, " \t\n{}?#"):
		return usageError{fmt.Errorf("--web.telemetry-path=%q: a path without spaces, braces, ? or #", p)}
	}
	for _, r := range reservedPaths {
		if p == r {
			return usageError{fmt.Errorf("--web.telemetry-path=%s: that path is the exporter's own", p)}
		}
	}
	if o.maxRequests < 0 {
		return usageError{fmt.Errorf("--web.max-requests=%d must be 0 (no limit) or more", o.maxRequests)}
	}
	if o.web.WebSystemdSocket == nil || !*o.web.WebSystemdSocket {
		for _, a := range *o.web.WebListenAddresses {
			if err := checkListenAddress(a); err != nil {
				return usageError{fmt.Errorf("--web.listen-address=%s: %w", a, err)}
			}
		}
	}
	if f := *o.web.WebConfigFile; f != "" {
		if err := web.Validate(f); err != nil {
			return usageError{fmt.Errorf("--web.config.file=%s: %s", f, rewordWebConfig(oneLine(err.Error())))}
		}
	}
	return nil
}

// checkListenAddress accepts what the toolkit listens on: host:port (host
// may be empty, a name or an address) or vsock://CID:PORT.
func checkListenAddress(a string) error {
	if strings.HasPrefix(a, "vsock://") {
		return nil // the toolkit parses these itself, and says which part is wrong
	}
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return fmt.Errorf("want host:port or :port (e.g. :9917)")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("port %q: want a number 0..65535", port)
	}
	return nil
}

// oneLine joins a multi-line message (yaml's lists of errors) into one.
func oneLine(s string) string {
	fields := strings.Split(s, "\n")
	out := fields[:0]
	for _, f := range fields {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// webConfigTypes name the toolkit's Go types in the file's words.
var webConfigTypes = map[string]string{
	"web.Config":               "the web configuration (a mapping of tls_server_config, http_server_config, basic_auth_users)",
	"web.TLSConfig":            "tls_server_config (a mapping)",
	"web.HTTPConfig":           "http_server_config (a mapping)",
	"map[string]config.Secret": "basic_auth_users (a mapping of user names to bcrypt hashes)",
	"config.Secret":            "a bcrypt hash (a string)",
	"string":                   "a string",
	"bool":                     "true or false",
	"[]string":                 "a list of strings",
}

var yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type (\S+)`)

var yamlTypeError = regexp.MustCompile("cannot unmarshal !!(\\w+)(?: `([^`]*)`)? into (\\S+)")

// rewordWebConfig rewrites yaml's "cannot unmarshal !!int `5` into
// map[string]config.Secret" as "want basic_auth_users (...), not the int 5".
func rewordWebConfig(s string) string {
	s = strings.TrimPrefix(s, "yaml: unmarshal errors: ")
	s = yamlUnknownField.ReplaceAllStringFunc(s, func(m string) string {
		g := yamlUnknownField.FindStringSubmatch(m)
		in, ok := webConfigTypes[g[2]]
		if !ok {
			return m
		}
		in, _, _ = strings.Cut(in, " (")
		return fmt.Sprintf("unknown key %q in %s", g[1], in)
	})
	return yamlTypeError.ReplaceAllStringFunc(s, func(m string) string {
		g := yamlTypeError.FindStringSubmatch(m)
		want, ok := webConfigTypes[g[3]]
		if !ok {
			return m
		}
		got := "a " + g[1]
		if g[2] != "" {
			got = "the " + g[1] + " " + g[2]
		}
		return "want " + want + ", not " + got
	})
}
