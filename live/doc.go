// Package live streams what the exporter measures, as it measures it, to
// the browsers showing its live page: the sampler's rate of each device at
// the device's own resolution (every sample of the fast set, every slow
// interval for the rest), the prober's results and the spike events, as
// server-sent events at GET /api/v1/stream (schema in docs/liveview.md).
//
// A Hub sits between the sampler and prober and their metrics observers
// (Sampler and Prober wrap those observers) and subscribes to the spike
// bus. While no client is connected it only forwards to the wrapped
// observers: one atomic load per observation, nothing kept. Each client has
// a bounded queue; one that does not keep up is dropped, never buffered
// without limit. The Hub keeps no history: a page shows what arrived since
// it opened.
package live
