package locate

import (
	"net/netip"
	"time"
)

// The seed's six capture points, in path order from the pinging VM a.
var seedPoints = []string{"vm_a_eth0", "hv_a_vif023471", "hv_a_eth0", "hv_b_eth0", "hv_b_vif061606", "vm_b_eth0"}

// seedBase is 19:53:08 on an arbitrary day: the seed gives times of day only.
var seedBase = time.Date(2019, 4, 3, 19, 53, 8, 0, time.UTC)

var (
	seedSrc = netip.MustParseAddr("192.168.47.111")
	seedDst = netip.MustParseAddr("192.168.47.127")
)

const seedID = 21616

// seedSlow is the field report's table for seq 110 (echo id 21616, six capture points): request and reply time of day
// (the fraction of 19:53:08) at each point, in microseconds. The seed's own
// text computes hv_a eth0's round trip as "09.852337 - 09.852327", a typo:
// its tcpdump lines (.850991 and .971440) are what the table has, and give
// 0.120449 s.
var seedSlow = [6][2]int{
	{851499, 972053},
	{850975, 971458},
	{850991, 971440},
	{851171, 851255},
	{851188, 851241},
	{850831, 850846},
}

// seedClock is each point's clock offset for the normal echoes, in
// microseconds, as the seed's table implies: VM a's clock runs ~0.56 ms
// ahead of the hosts' and VM b's ~0.38 ms behind (the midpoints of seq
// 110's vm/vif timestamps); the hosts' clocks agree.
var seedClock = [6]int{559, 0, 0, 0, 0, -376}

// seedHops is the true one-way delay of each hop for normal echoes, in
// microseconds (request, reply), and seedTurn VM b's reply time.
var seedHops = [5][2]int{{35, 36}, {16, 18}, {88, 88}, {17, 14}, {19, 20}}

const seedTurn = 15

// seedEcho returns the observations of one normal echo sent by VM a at
// true time t: each hop's delay plus a little per-echo jitter (equal both
// ways on the physical segment), seen at each point through its clock,
// rounded to microseconds as in a pcap.
func seedEcho(seq uint16, t time.Time) []Observation {
	us := time.Microsecond
	jit := time.Duration(int(seq)*7%5) * us
	req := make([]time.Time, 6)
	rep := make([]time.Time, 6)
	req[0] = t
	for h := range 5 {
		d := time.Duration(seedHops[h][0]) * us
		if h == 2 {
			d += jit
		}
		req[h+1] = req[h].Add(d)
	}
	rep[5] = req[5].Add(seedTurn * us)
	for h := 4; h >= 0; h-- {
		d := time.Duration(seedHops[h][1]) * us
		if h == 2 {
			d += jit
		}
		rep[h] = rep[h+1].Add(d)
	}
	var obs []Observation
	for p := range 6 {
		off := time.Duration(seedClock[p]) * us
		obs = append(obs,
			Observation{Point: p, Time: req[p].Add(off).Round(us), Src: seedSrc, Dst: seedDst, ID: seedID, Seq: seq},
			Observation{Point: p, Time: rep[p].Add(off).Round(us), Src: seedDst, Dst: seedSrc, ID: seedID, Seq: seq, Reply: true})
	}
	return obs
}

// seedObservations returns echoes seq first..last, one a second, with seq
// 110 (when in range) taken from the seed's table; per point in time order.
func seedObservations(first, last uint16) [][]Observation {
	per := make([][]Observation, 6)
	for seq := first; seq <= last; seq++ {
		if seq == 110 {
			for p, tt := range seedSlow {
				per[p] = append(per[p],
					Observation{Point: p, Time: seedBase.Add(time.Duration(tt[0]) * time.Microsecond), Src: seedSrc, Dst: seedDst, ID: seedID, Seq: seq},
					Observation{Point: p, Time: seedBase.Add(time.Duration(tt[1]) * time.Microsecond), Src: seedDst, Dst: seedSrc, ID: seedID, Seq: seq, Reply: true})
			}
			continue
		}
		// VM a sends at .851 (its clock) each second, like seq 110.
		t := seedBase.Add(time.Duration(int(seq)-110)*time.Second + 850940*time.Microsecond)
		for _, o := range seedEcho(seq, t) {
			per[o.Point] = append(per[o.Point], o)
		}
	}
	return per
}
