package collector

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRoundedBuckets(t *testing.T) {
	tests := []struct {
		name   string
		sig    int
		bounds []float64
		want   []float64
	}{
		// ExponentialBucketsRange(1e-4, 1e-2, 3) is 0.00010000000000000003, 0.0010000000000000005, 0.010000000000000007.
		{"exponential noise", 3, prometheus.ExponentialBucketsRange(1e-4, 1e-2, 3), []float64{1e-4, 1e-3, 1e-2}},
		// sqrt(10) steps: 3162.2776601683795 and so on.
		{"three digits", 3, prometheus.ExponentialBucketsRange(1e3, 1e5, 5), []float64{1000, 3160, 10000, 31600, 100000}},
		// 0.1+0.0005 is 0.10050000000000001, 0.1-0.01 is 0.09000000000000001.
		{"sums", 12, []float64{0.1 - 0.01, 0.1, 0.1 + 0.0005}, []float64{0.09, 0.1, 0.1005}},
	}
	for _, tt := range tests {
		if got := roundedBuckets(tt.sig, tt.bounds); !slices.Equal(got, tt.want) {
			t.Errorf("%s: roundedBuckets(%d, %v) = %v, want %v", tt.name, tt.sig, tt.bounds, got, tt.want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("bounds made equal by rounding: no panic")
		}
	}()
	roundedBuckets(3, []float64{0.1005, 0.1006})
}
