package alerts

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// ErrPromQL is wrapped by MetricNames' errors: an expression it cannot scan
// (an unterminated string, brace or bracket).
var ErrPromQL = errors.New("cannot scan PromQL")

// aggregations are PromQL's aggregation operators: never metric names,
// whether a "(" or a "by"/"without" clause follows.
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
}

// keywords are PromQL words that are not metric names.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// labelListKeywords are followed by a parenthesised list of label names.
var labelListKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// numberRE matches a number or duration literal: 0x1f, 1.5, 1e+06, 5m, 1h30m.
var numberRE = regexp.MustCompile(`^(0[xX][0-9a-fA-F]+|([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?([a-zA-Z]+[0-9]*)*)`)

// nameMatcherRE finds __name__ matchers inside a selector's braces.
var nameMatcherRE = regexp.MustCompile(`__name__\s*=\s*"([^"]+)"`)

// MetricNames lists, sorted and without duplicates, the metric names an
// expression reads: bare selectors and __name__="x" matchers. It is a
// scanner, not a parser: pair it with promtool for syntax. It needs no
// dependency on prometheus/prometheus.
func MetricNames(expr string) ([]string, error) {
	names := map[string]bool{}
	s := expr
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, i)
			if err != nil {
				return nil, err
			}
			i = end
		case c == '{':
			end, err := skipTo(s, i, '}')
			if err != nil {
				return nil, err
			}
			for _, m := range nameMatcherRE.FindAllStringSubmatch(s[i:end], -1) {
				names[m[1]] = true
			}
			i = end
		case c == '[':
			end, err := skipTo(s, i, ']')
			if err != nil {
				return nil, err
			}
			i = end
		case isIdentStart(c):
			j := i + 1
			for j < len(s) && isIdentChar(s[j]) {
				j++
			}
			word := s[i:j]
			next := j
			for next < len(s) && (s[next] == ' ' || s[next] == '\t' || s[next] == '\n' || s[next] == '\r') {
				next++
			}
			lower := strings.ToLower(word)
			switch {
			case labelListKeywords[lower]:
				if next < len(s) && s[next] == '(' {
					end, err := skipTo(s, next, ')')
					if err != nil {
						return nil, err
					}
					j = end
				}
			case aggregations[lower] || keywords[lower]:
			case next < len(s) && s[next] == '(':
				// A function call.
			default:
				names[word] = true
			}
			i = j
		case c >= '0' && c <= '9' || c == '.':
			m := numberRE.FindString(s[i:])
			if m == "" {
				m = s[i : i+1]
			}
			i += len(m)
		default:
			i++
		}
	}
	out := make([]string, 0, len(names))
	for n := range names {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// skipString returns the index just past the string literal starting at i.
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: unterminated string at offset %d in %q", ErrPromQL, i, s)
}

// skipTo returns the index just past the closing byte of the group opened
// at i, skipping string literals inside it.
func skipTo(s string, i int, closing byte) (int, error) {
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"' || c == '\'' || c == '`':
			end, err := skipString(s, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case c == closing:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("%w: %q opened at offset %d is never closed in %q", ErrPromQL, s[i], i, s)
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// UnknownMetric is one metric name an expression reads that is neither
// known nor recorded.
type UnknownMetric struct {
	// Where names the expression (a rule, a dashboard panel).
	Where string
	// Name is the metric name.
	Name string
}

// ErrUnknownMetric is wrapped by the errors CheckMetricNames returns.
var ErrUnknownMetric = errors.New("unknown metric")

// CheckMetricNames scans each expression (keyed by where it comes from) and
// returns an error naming every metric that is not in known. known is the
// contract (ContractMetrics), the names of a live scrape (ExpandNames), or
// either joined with the recording rules' names (RecordedNames).
func CheckMetricNames(exprs map[string]string, known map[string]bool) error {
	var errs []error
	wheres := make([]string, 0, len(exprs))
	for w := range exprs {
		wheres = append(wheres, w)
	}
	sort.Strings(wheres)
	for _, w := range wheres {
		names, err := MetricNames(exprs[w])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", w, err))
			continue
		}
		for _, n := range names {
			if !known[n] {
				errs = append(errs, fmt.Errorf("%s: %w %s", w, ErrUnknownMetric, n))
			}
		}
	}
	return errors.Join(errs...)
}
