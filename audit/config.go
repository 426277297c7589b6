package audit

import (
	"errors"
	"fmt"
	"net"
	"time"

	"shop/service"
)

// Config is what shop-audit reads from the environment: the two databases,
// under the variables of the services that own them (their defaults are
// the services' runtime roles, for a one-off run by an operator; the
// scheduled audit connects as the audit role instead), and, for the
// scheduled audit, how often it runs and where it serves its metrics.
type Config struct {
	PaymentsDatabaseURL service.DatabaseURL `env:"PAYMENTS_DATABASE_URL, default=postgres://payments_app:payments_app@127.0.0.1:5432/payments"`
	OrdersDatabaseURL   service.DatabaseURL `env:"ORDERS_DATABASE_URL, default=postgres://orders_app:orders_app@127.0.0.1:5432/orders"`
	// Interval, when not 0, runs the audit on this schedule (shop-audit
	// -every); 0 runs it once.
	Interval time.Duration `env:"AUDIT_INTERVAL, default=0s"`
	Admin    Admin
}

// Admin is where the scheduled audit serves /metrics: a fixed address on
// loopback, next to the services' admin listeners (9110 to 9112) and the
// JMX exporters' (9113, 9114), above the ports `make run` gives further
// service instances from 9115 on for up to four instances each.
type Admin struct {
	Addr string `env:"AUDIT_ADMIN_ADDR, default=127.0.0.1:9119"`
}

// Validate checks that both URLs are postgres:// URLs, the interval is not
// negative and the admin address is a host:port.
func (c *Config) Validate() error {
	errs := []error{c.PaymentsDatabaseURL.Validate("PAYMENTS_DATABASE_URL"), c.OrdersDatabaseURL.Validate("ORDERS_DATABASE_URL")}
	if c.Interval < 0 {
		errs = append(errs, fmt.Errorf("AUDIT_INTERVAL %v: want a positive interval, or 0 for once", c.Interval))
	}
	if _, _, err := net.SplitHostPort(c.Admin.Addr); err != nil {
		errs = append(errs, fmt.Errorf("AUDIT_ADMIN_ADDR %q: %w", c.Admin.Addr, err))
	}
	return errors.Join(errs...)
}
