package service

import (
	"net"
	"strings"
)

// LoopbackHost reports whether host (a name or an IP, without a port; an
// IPv6 address with or without brackets) is this machine only: "localhost"
// or an address of 127.0.0.0/8 or ::1. An empty host, as in ":8080", is
// every interface, not loopback; so are 0.0.0.0 and ::.
func LoopbackHost(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
