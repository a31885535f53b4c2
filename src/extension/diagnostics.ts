/**
 * SDG YAML files checked by the core validators on open and save, with the problems in the
 * Problems view at their line. Built-in files are checked too (read-only, but it helps when a
 * copy is edited).
 */
import * as vscode from 'vscode';
import { checkSdgYaml, sdgYamlKind } from './yamlChecks';

export function registerYamlDiagnostics(context: vscode.ExtensionContext): void {
  const collection = vscode.languages.createDiagnosticCollection('sdg');
  const check = (doc: vscode.TextDocument) => {
    if (doc.uri.scheme !== 'file' || !sdgYamlKind(doc.uri.fsPath)) return;
    const problems = checkSdgYaml(doc.uri.fsPath);
    collection.set(
      doc.uri,
      problems.map((p) => {
        const line = Math.min(Math.max(0, (p.line ?? 1) - 1), Math.max(0, doc.lineCount - 1));
        const d = new vscode.Diagnostic(doc.lineAt(line).range, `${p.field ? `${p.field}: ` : ''}${p.message}`, vscode.DiagnosticSeverity.Error);
        d.source = 'SDG';
        return d;
      }),
    );
  };
  context.subscriptions.push(
    collection,
    vscode.workspace.onDidOpenTextDocument(check),
    vscode.workspace.onDidSaveTextDocument(check),
    vscode.workspace.onDidCloseTextDocument((doc) => collection.delete(doc.uri)),
  );
  for (const doc of vscode.workspace.textDocuments) check(doc);
}
