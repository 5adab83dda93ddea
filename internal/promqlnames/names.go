package promqlnames

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// ErrPromQL is wrapped by MetricNames' errors: an expression Prometheus'
// parser refuses.
var ErrPromQL = errors.New("invalid PromQL")

// ErrUnknownMetric is wrapped by the errors Check returns.
var ErrUnknownMetric = errors.New("unknown metric")

// MetricNames lists, sorted and without duplicates, the metric names expr
// reads: each selector's name, or its __name__="x" matcher. A selector
// without either (a regular expression on __name__) names nothing.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrPromQL, expr, err)
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			names = append(names, vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
				names = append(names, m.Value)
			}
		}
		return nil
	})
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Check parses each expression (keyed by where it comes from: a rule, a
// dashboard panel) and returns an error naming every expression that does
// not parse and every metric that is not in known, nil if there is none.
func Check(exprs map[string]string, known map[string]bool) error {
	wheres := make([]string, 0, len(exprs))
	for w := range exprs {
		wheres = append(wheres, w)
	}
	sort.Strings(wheres)
	var errs []error
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
