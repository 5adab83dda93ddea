package collector

import (
	"fmt"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// histogramOpts are the options of every netburst histogram: the classic
// buckets given, and the native-histogram settings they all share, so that
// a histogram added later cannot drift from the others.
func histogramOpts(name, help string, buckets []float64) prometheus.HistogramOpts {
	return prometheus.HistogramOpts{
		Namespace:                       namespace,
		Name:                            name,
		Help:                            help,
		Buckets:                         buckets,
		NativeHistogramBucketFactor:     nativeFactor,
		NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
		NativeHistogramMinResetDuration: nativeMinReset,
	}
}

// roundedBuckets returns bounds rounded to sig significant digits. Bounds
// computed in floating point carry noise (ExponentialBucketsRange gives
// 0.00010000000000000003, 0.1+0.0005 is 0.10050000000000001) that would
// be in every le label; rounded, the labels read as the numbers meant. It
// panics if rounding made two bounds equal: the bounds given are wrong.
func roundedBuckets(sig int, bounds []float64) []float64 {
	out := make([]float64, len(bounds))
	for i, b := range bounds {
		out[i], _ = strconv.ParseFloat(strconv.FormatFloat(b, 'g', sig, 64), 64)
		if i > 0 && out[i] <= out[i-1] {
			panic(fmt.Sprintf("collector: bucket bounds %v and %v are one at %d significant digits", bounds[i-1], b, sig))
		}
	}
	return out
}
