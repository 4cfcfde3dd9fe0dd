// Package main (netprobe) is an HTTP probe for the test cluster's NetworkPolicy checks.
package main
