package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// maxEngineBoots is snmpEngineBoots' ceiling (RFC 3414 2.2.2): once there, it stays, and the
// engine must be given a new snmpEngineID.
const maxEngineBoots = 2147483647

// NextEngineBoots returns the snmpEngineBoots of this start, as net-snmp keeps it: the number in
// path plus one (1 if path does not exist yet), written back before the agent answers anything.
// RFC 3414 replay protection rests on it: a request authenticated under earlier boots is refused
// with usmStatsNotInTimeWindows, even one captured within 150 s of the previous start.
func NextEngineBoots(path string) (uint32, error) {
	var boots uint64
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("engine boots file: %w", err)
	default:
		if boots, err = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err != nil || boots > maxEngineBoots {
			return 0, fmt.Errorf("engine boots file %s: %q is not a number of boots (0-%d)", path, strings.TrimSpace(string(b)), maxEngineBoots)
		}
	}
	boots = min(boots+1, maxEngineBoots)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".engine-boots-*")
	if err != nil {
		return 0, fmt.Errorf("engine boots file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d\n", boots); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("engine boots file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return 0, fmt.Errorf("engine boots file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("engine boots file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return 0, fmt.Errorf("engine boots file: %w", err)
	}
	return uint32(boots), nil
}

// clockEngineBoots is the snmpEngineBoots of an agent with no boots file: the Unix time of its
// start in seconds, which grows from one start to the next as long as the clock does (and fits
// RFC 3414's 31 bits until 2038). Two starts within one second share it: use a boots file
// (NextEngineBoots) where that matters.
func clockEngineBoots(now time.Time) uint32 {
	return uint32(min(max(now.Unix(), 1), maxEngineBoots))
}
