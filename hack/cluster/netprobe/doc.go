// Package main (netprobe) is an HTTP probe for the test cluster's NetworkPolicy checks: it makes
// one request and says whether a server answered (exit 0, with the status and the address it
// reached), the connection was refused or timed out (exit 2: what an enforced policy does), or the
// probe itself failed, e.g. a name that does not resolve (exit 1).
//
//	netprobe [-X METHOD] URL
//	netprobe -snmp COMMUNITY HOST:PORT   (an SNMPv2c GET over UDP)
//	netprobe -tcp HOST:PORT              (a TCP connection only, for a server that speaks no HTTP)
package main
