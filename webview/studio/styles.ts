/** Styles shared by the Studio's root and tab components (theme variables only). */
import { css } from 'lit';
import { baseStyles } from '../common/theme.js';

export const studioStyles = [
  baseStyles,
  css`
    .layout { display: grid; grid-template-columns: minmax(180px, 260px) 1fr; gap: 16px; }
    .list-item { padding: 4px 8px; cursor: pointer; border-radius: 3px; }
    .list-item:hover { background: var(--vscode-list-hoverBackground); }
    .list-item.selected { background: var(--vscode-list-activeSelectionBackground); color: var(--vscode-list-activeSelectionForeground); }
    vscode-textarea.template { width: 100%; min-height: 220px; }
    .example vscode-textarea, vscode-textarea.wide, vscode-textfield.wide { width: 100%; }
    vscode-textfield, vscode-single-select { min-width: 220px; }
    .two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
    .msg-role { font-weight: 600; text-transform: uppercase; font-size: 11px; }
    .example { border-left: 2px solid var(--vscode-textLink-foreground); padding-left: 8px; margin: 8px 0; }
    .stats { display: grid; grid-template-columns: repeat(auto-fill, minmax(140px, 1fr)); gap: 4px 16px; }
    .form-grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(170px, 1fr)); gap: 4px 12px; margin: 6px 0; }
    .form-grid vscode-textfield, .form-grid vscode-single-select { min-width: 0; width: 100%; }
    .stat-label { font-size: 11px; color: var(--vscode-descriptionForeground); }
    .banner { padding: 6px 10px; margin: 8px 0; border-radius: 3px; background: var(--vscode-inputValidation-warningBackground); border: 1px solid var(--vscode-inputValidation-warningBorder); }
    .banner.info { background: var(--vscode-textBlockQuote-background); border-color: var(--vscode-focusBorder); }
    .toast { padding: 6px 10px; margin: 8px 0; border-radius: 3px; background: var(--vscode-inputValidation-errorBackground); border: 1px solid var(--vscode-inputValidation-errorBorder); }
    .w-done { background: var(--vscode-progressBar-background); height: 6px; float: left; }
    .w-failed { background: var(--vscode-errorForeground); height: 6px; float: left; }
    .servers-table { border-collapse: collapse; width: 100%; font-size: 12px; }
    .servers-table th { text-align: left; font-weight: 600; color: var(--vscode-descriptionForeground); border-bottom: 1px solid var(--vscode-widget-border, var(--vscode-panel-border)); padding: 2px 8px 2px 0; }
    .servers-table td { padding: 2px 8px 2px 0; border-bottom: 1px solid var(--vscode-editorWidget-border, transparent); }
    .servers-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
    .servers-table td.last-error { max-width: 320px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
    .pool-servers { margin: 4px 0; padding-left: 18px; }
    pre.script { background: var(--vscode-textCodeBlock-background); padding: 8px; overflow: auto; max-height: 420px; font-family: var(--vscode-editor-font-family); font-size: 12px; }
  `,
];
