module wattson.dev/engines/argo-measure

go 1.26
