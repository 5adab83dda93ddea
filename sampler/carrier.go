package sampler

import "encoding/binary"

// Link attributes read from RTM_NEWLINK bodies beside what the netlink
// library decodes (it drops IFLA_CARRIER_CHANGES).
const (
	ifInfoMsgLen       = 16 // struct ifinfomsg
	iflaCarrierChanges = 35 // IFLA_CARRIER_CHANGES: u32, carrier up and down transitions
)

// parseCarrierChanges returns IFLA_CARRIER_CHANGES of an RTM_NEWLINK body
// (struct ifinfomsg and its attributes): how many times the device's
// carrier went up or down since it was created (Linux 3.15 and later). ok
// is false when the message has none or is malformed.
func parseCarrierChanges(m []byte) (n uint32, ok bool) {
	if len(m) < ifInfoMsgLen {
		return 0, false
	}
	attrs := m[ifInfoMsgLen:]
	for len(attrs) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(attrs[0:2]))
		t := binary.NativeEndian.Uint16(attrs[2:4]) & nlaTypeMask
		if l < nlaHdrLen || l > len(attrs) {
			return 0, false
		}
		if t == iflaCarrierChanges {
			if l < nlaHdrLen+4 {
				return 0, false
			}
			return binary.NativeEndian.Uint32(attrs[nlaHdrLen:]), true
		}
		attrs = attrs[min(align4(l), len(attrs)):]
	}
	return 0, false
}
