module wattson.dev/engines/flagger-check

go 1.26
