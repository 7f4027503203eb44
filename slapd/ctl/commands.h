#pragma once
// Each group of slapctl commands registers itself on the application.
#include <CLI/CLI.hpp>

namespace slap::ctl {

void add_ledger_commands(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_people_commands(CLI::App& app);
void add_billing_commands(CLI::App& app);

// Exit codes shared by every command.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;  // the check failed (corruption, difference)
inline constexpr int kExitError = 2;   // could not run (bad arguments, cannot open)

// Set by the command that ran; returned by main.
inline int g_exit_code = kExitOk;

}  // namespace slap::ctl
