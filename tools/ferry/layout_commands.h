// The repository commands on a directory in the qcow2 layout (engine/image_store.h): the
// deduplicated layout's commands hand over to these when the repository is one.
#pragma once

#include "tools/ferry/repo_args.h"

namespace ferry::cli {

// Whether --repo names a directory in the qcow2 layout.
bool IsQcow2Layout(const RepoArgs& args);

int RunLayoutInit(const InitArgs& a);
int RunLayoutBackup(const BackupArgs& a);
int RunLayoutSnapshots(const ListArgs& a);
int RunLayoutRestore(const RestoreArgs& a);
int RunLayoutForget(const ForgetArgs& a);
int RunLayoutCheck(const CheckArgs& a);
int RunLayoutStats(const ListArgs& a);

}  // namespace ferry::cli
