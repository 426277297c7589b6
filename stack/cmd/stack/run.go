package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"

	"shop/service"
	"shop/stack/jars"
	"shop/stack/local"
)

func fetchOnly(ctx context.Context, cfg config, log *slog.Logger) error {
	l, err := jars.Fetch(ctx, cfg.CacheDir, log)
	if err != nil {
		return err
	}
	log.Info("jars ready", "kafka", l.KafkaLibs, "plugins", l.PluginPath)
	return nil
}

// runStack is `make run`: the infrastructure, the databases, the topics and
// the connectors, then the services, every process supervised (restarted
// when it exits). It returns nil on Ctrl-C, after stopping everything in
// reverse order, or the error of a component that cannot come back.
func runStack(ctx context.Context, cfg config, withServices bool, log *slog.Logger) error {
	s, err := local.StartSystem(ctx, cfg.system(withServices), log)
	if err != nil {
		return err
	}
	defer s.Stop()
	var b strings.Builder
	b.WriteString("\nThe shop is running.\n")
	if withServices {
		fmt.Fprintf(&b, "  gateway:     %s/api/v1\n  swagger ui:  %s/swagger/index.html\n  orders:      %s\n  payments:    %s\n",
			s.GatewayURL(), s.GatewayURL(), strings.Join(s.OrdersAddrs, " "), strings.Join(s.PaymentsAddrs, " "))
		fmt.Fprintf(&b, "  admin (/metrics, /debug/pprof/):\n    gateway:   %s\n    orders:    %s\n    payments:  %s\n    audit:     %s\n",
			adminURLs(s.GatewayAdminAddr), adminURLs(s.OrdersAdminAddrs...), adminURLs(s.PaymentsAdminAddrs...), adminURLs(s.AuditAdminAddr))
		if cfg.Auth.Mode == service.AuthJWT {
			fmt.Fprintf(&b, "  identity:    AUTH_MODE=jwt, development issuer: a token with `.bin/stack token alice` or POST %s/dev/token {\"user_id\":\"alice\"}\n", s.GatewayURL())
		} else {
			fmt.Fprintf(&b, "  identity:    AUTH_MODE=%s: the gateway trusts the X-User-ID header\n", cfg.Auth.Mode)
		}
	}
	if s.ConnectMetricsURL() != "" {
		fmt.Fprintf(&b, "  metrics:     connect %s  kafka %s\n", s.ConnectMetricsURL(), s.KafkaMetricsURL())
	} else {
		fmt.Fprintf(&b, "  metrics:     off (SHOP_TELEMETRY=false)\n")
	}
	fmt.Fprintf(&b, "  connect:     %s (CONNECT_USERNAME=%s CONNECT_PASSWORD_FILE=%s)\n  kafka:       %s (SASL/SCRAM-SHA-512; shopctl: KAFKA_SASL_USERNAME=%s KAFKA_SASL_PASSWORD_FILE=%s)\n  postgres:    %s\n  logs:        %s\nA process that exits is restarted. Press Ctrl-C to stop.\n\n",
		s.ConnectURL(), s.ConnectCredentials().Username, s.ConnectPasswordFile(),
		strings.Join(s.Brokers(), ","), local.KafkaShopctl, s.KafkaSecrets.File(local.KafkaShopctl),
		redact(s.ServiceURL("orders")), cfg.DataDir)
	fmt.Fprint(os.Stderr, b.String())

	if err := s.Wait(ctx); err != nil {
		return err
	}
	log.Info("stopping")
	return nil
}

// adminURLs renders admin addresses as their /metrics URLs.
func adminURLs(addrs ...string) string {
	urls := make([]string, len(addrs))
	for i, a := range addrs {
		urls[i] = "http://" + a + "/metrics"
	}
	return strings.Join(urls, " ")
}

// redact hides the password of a database URL.
func redact(u string) string {
	if p, err := url.Parse(u); err == nil {
		return p.Redacted()
	}
	return u
}
