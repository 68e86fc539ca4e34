package configs

import (
	"os"
	"path/filepath"
	"runtime"
)

// DataDirPath returns the data directory: data_dir, else the platform default.
func (c *Config) DataDirPath() string {
	if c.DataDir != "" {
		return c.DataDir
	}
	return defaultDataDir()
}

// DBPath is <data dir>/robaws-edge.db.
func (c *Config) DBPath() string { return filepath.Join(c.DataDirPath(), "robaws-edge.db") }

// DefaultConfigPath is the platform's config file location (SPEC §3).
func DefaultConfigPath() string {
	switch runtime.GOOS {
	case "windows":
		return filepath.Join(programData(), "robaws-edge", "config.yaml")
	case "darwin":
		return "/Library/Application Support/robaws-edge/config.yaml"
	}
	return "/etc/robaws-edge/config.yaml"
}

func defaultDataDir() string {
	switch {
	case runtime.GOOS == "windows":
		return filepath.Join(programData(), "robaws-edge")
	case runtime.GOOS == "linux" && os.Geteuid() == 0:
		return "/var/lib/robaws-edge"
	case os.Getenv("XDG_STATE_HOME") != "":
		return filepath.Join(os.Getenv("XDG_STATE_HOME"), "robaws-edge")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".local", "state", "robaws-edge")
}

func programData() string {
	if p := os.Getenv("ProgramData"); p != "" {
		return p
	}
	return `C:\ProgramData`
}
