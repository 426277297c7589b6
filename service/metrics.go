package service

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// RegisterCollectors registers collectors with reg. A collector that reg
// already holds (the same one) is not an error, so that several services
// running in one process, or one registering twice, may each register
// the package-level collectors they share.
func RegisterCollectors(reg prometheus.Registerer, collectors ...prometheus.Collector) error {
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) && are.ExistingCollector == c {
				continue
			}
			return err
		}
	}
	return nil
}
