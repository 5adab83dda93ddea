package locate

import (
	"slices"
	"time"
)

// median returns the median of d (the mean of the middle two for an even
// count) and false when d is empty. It sorts d in place.
func median(d []time.Duration) (time.Duration, bool) {
	if len(d) == 0 {
		return 0, false
	}
	slices.Sort(d)
	n := len(d)
	if n%2 == 1 {
		return d[n/2], true
	}
	// Halve before adding so that two huge values cannot overflow.
	return d[n/2-1]/2 + d[n/2]/2 + (d[n/2-1]%2+d[n/2]%2)/2, true
}

// mad returns the median absolute deviation of d around m. It overwrites d.
func mad(d []time.Duration, m time.Duration) time.Duration {
	for i, v := range d {
		if v < m {
			d[i] = m - v
		} else {
			d[i] = v - m
		}
	}
	r, _ := median(d)
	return r
}
