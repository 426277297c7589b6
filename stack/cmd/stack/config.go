package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"shop/stack/jars"
	"shop/stack/local"
)

// config is everything `stack` reads from the environment.
type config struct {
	stack       local.Config
	root        string // repository root (for building the services)
	gatewayAddr string
	ordersAddr  string
	paymentsAdr string
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envPort(name string, def int) (int, error) {
	v := env(name, strconv.Itoa(def))
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("%s=%q: want a TCP port", name, v)
	}
	return p, nil
}

func configFromEnv() (config, error) {
	root, err := os.Getwd()
	if err != nil {
		return config{}, err
	}
	root = env("STACK_ROOT", root)
	c := config{
		root:        root,
		gatewayAddr: env("GATEWAY_HTTP_ADDR", "127.0.0.1:8080"),
		ordersAddr:  env("ORDERS_GRPC_ADDR", "127.0.0.1:9101"),
		paymentsAdr: env("PAYMENTS_GRPC_ADDR", "127.0.0.1:9102"),
		stack: local.Config{
			DataDir:             env("STACK_DATA_DIR", filepath.Join(root, ".data")),
			CacheDir:            env("STACK_CACHE_DIR", jars.DefaultCacheDir()),
			Durable:             true,
			SuperuserPassword:   env("POSTGRES_PASSWORD", "postgres"),
			ServicePassword:     env("SHOP_DB_PASSWORD", "shop"),
			ReplicationPassword: env("DEBEZIUM_DB_PASSWORD", "debezium"),
		},
	}
	for _, p := range []struct {
		dst  *int
		name string
		def  int
	}{
		{&c.stack.PostgresPort, "POSTGRES_PORT", 5432},
		{&c.stack.KafkaPort, "KAFKA_PORT", 9092},
		{&c.stack.ControllerPort, "KAFKA_CONTROLLER_PORT", 9093},
		{&c.stack.ConnectPort, "CONNECT_PORT", 8083},
	} {
		if *p.dst, err = envPort(p.name, p.def); err != nil {
			return config{}, err
		}
	}
	return c, nil
}
