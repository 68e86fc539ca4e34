package cli

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/robaws-edge/robaws-edge/configs"
	"github.com/robaws-edge/robaws-edge/service"
)

// serviceDone is what each service action prints when it succeeds.
var serviceDone = map[string]string{
	"install":   "installed the robaws-edge service (start it with `robaws-edge start`)",
	"uninstall": "uninstalled the robaws-edge service",
	"start":     "started the robaws-edge service",
	"stop":      "stopped the robaws-edge service",
	"restart":   "restarted the robaws-edge service",
}

// cmdService returns the command for a service action (install,
// uninstall, start, stop, restart). The config is checked first, so a
// service never gets installed or started with a file `run` would refuse.
func cmdService(action string) func(context.Context, *cliEnv, []string) error {
	return func(_ context.Context, env *cliEnv, args []string) error {
		fs := newFlags(env, action)
		configPath := fs.String("config", "", "config file the service runs with (default: "+configs.DefaultConfigPath()+" if it exists, else built-in defaults)")
		var exe, runAs *string
		var printUnit *bool
		if action == "install" {
			exe = fs.String("executable", "", "binary the service starts (default: this one, where it is now)")
			runAs = fs.String("run-as", "", "Linux: run the service as this system user (User= and Group= in the unit; the user needs a group of its name)")
			printUnit = fs.Bool("print-unit", false, "print the systemd unit install would write and install nothing (no file is read: packages are built with it)")
		}
		if err := noArgs(fs, args); err != nil {
			return err
		}
		cfg := service.Config{}
		if action == "install" {
			cfg.Executable, cfg.UserName = *exe, *runAs
			if *printUnit {
				return printSystemdUnit(env, cfg, *configPath)
			}
		}
		_, used, err := configs.Load(*configPath)
		if err != nil {
			return ConfigError(err)
		}
		// The service runs with the file found now (--config, else the
		// default path if it exists; "" = built-in defaults).
		cfg.ConfigPath = used
		if err := service.Control(cfg, action); err != nil {
			return err
		}
		fmt.Fprintln(env.stdout, serviceDone[action])
		return nil
	}
}

// printSystemdUnit is `install --print-unit`: the unit text install would
// write, with configPath as given (else the default path if a file is
// there), on any OS. The .deb's unit is made with it.
func printSystemdUnit(env *cliEnv, cfg service.Config, configPath string) error {
	cfg.ConfigPath = configPath
	if configPath == "" {
		if _, err := os.Stat(configs.DefaultConfigPath()); err == nil {
			cfg.ConfigPath = configs.DefaultConfigPath()
		}
	}
	unit, err := service.SystemdUnit(cfg)
	if err != nil {
		return usageError("%v", err)
	}
	_, err = io.WriteString(env.stdout, unit)
	return err
}
