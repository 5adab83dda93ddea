//go:build !linux

package bond

import (
	"context"
	"errors"
	"fmt"
)

// LinkEvents is only implemented on Linux.
func LinkEvents(ctx context.Context) (<-chan struct{}, error) {
	return nil, fmt.Errorf("bond: link events: %w", errors.ErrUnsupported)
}
