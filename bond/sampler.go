package bond

import "github.com/netburst/netburst/sampler"

// SamplerRates adapts the view a sampler hook receives to Rates, so that
// a Monitor can be updated after every sample:
//
//	s.AddHook(func(v sampler.View) { m.Update(v.Time(), bond.SamplerRates{View: v}) })
type SamplerRates struct {
	View sampler.View
}

// Lookup implements Rates.
func (r SamplerRates) Lookup(dev string) (DeviceRates, bool) {
	d, ok := r.View.Lookup(dev)
	if !ok {
		return DeviceRates{}, false
	}
	out := DeviceRates{SpeedBytes: d.SpeedBytes}
	for dir := range Directions {
		dr := out.dir(dir)
		dr.Rate = d.Rate[dir]
		for w := range Windows {
			dr.Peak[w] = d.Peak[dir][w]
			dr.Bytes[w] = float64(d.WindowBytes[dir][w])
		}
	}
	return out, true
}
