package main

import (
	"fmt"
	"os"

	"github.com/netburst/netburst/alerts"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	cfg, err := alerts.LoadConfig(alerts.ConfigFile)
	if err != nil {
		return err
	}
	out, err := alerts.Render(cfg, "..")
	if err != nil {
		return err
	}
	if err := os.WriteFile(alerts.RulesFile, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", alerts.RulesFile, err)
	}
	pr, err := alerts.RenderPrometheusRule(cfg, "..")
	if err != nil {
		return err
	}
	if err := os.WriteFile(alerts.PrometheusRuleFile, pr, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", alerts.PrometheusRuleFile, err)
	}
	return nil
}
