package collector

import "github.com/prometheus/client_golang/prometheus"

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
