package stack

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestAlertRulesWithout(t *testing.T) {
	files, err := AlertRules(6 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(slices.Collect(maps.Values(files)), "\n")
	for _, want := range []string{"alert: WattsonPDUScrapeDown", "alert: WattsonSpecFailing", "for: 6s"} {
		if !strings.Contains(all, want) {
			t.Fatalf("AlertRules lacks %q", want)
		}
	}
	out, err := WithoutAlerts(files, "WattsonPDUScrapeDown")
	if err != nil {
		t.Fatal(err)
	}
	rest := strings.Join(slices.Collect(maps.Values(out)), "\n")
	if strings.Contains(rest, "WattsonPDUScrapeDown") {
		t.Error("WattsonPDUScrapeDown is still there")
	}
	for _, want := range []string{"alert: WattsonPDUPowerAbsent", "alert: WattsonSpecFailing", "record: pdu:wattson_pdu_power_watts:sum"} {
		if !strings.Contains(rest, want) {
			t.Errorf("WithoutAlerts dropped more than asked: no %q", want)
		}
	}
	if _, err := WithoutAlerts(files, "WattsonNoSuchAlert"); err == nil || !strings.Contains(err.Error(), "WattsonNoSuchAlert") {
		t.Errorf("an unknown alert name: err = %v, want one naming it", err)
	}
}
