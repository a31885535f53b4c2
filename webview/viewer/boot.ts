// First module of the viewer bundle: marks when the script starts running, for the timings the
// vscode e2e suite reports (performance marks `sdg:*`, read from the webview's frame).
performance.mark('sdg:script-start');
