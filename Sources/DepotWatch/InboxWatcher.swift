// DepotWatch: inotify on the inbox, rescans, the quiet period, ignore rules, collection settings.
