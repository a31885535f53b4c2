/**
 * Driving VS Code's workbench (code-server in Chromium) the way a person does: the command
 * palette, webview frames, the notifications center.
 */
import type { FrameLocator, Page } from 'playwright-core';

export async function waitForWorkbench(page: Page, timeoutMs = 90_000): Promise<void> {
  await page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: timeoutMs });
  // The explorer shows before the remote extension host is up; wait for the status bar too.
  await page.locator('.statusbar').waitFor({ state: 'visible', timeout: timeoutMs });
}

/**
 * Runs a command by its palette title ("SDG: Open Studio"). A remote extension's commands are
 * registered seconds after the workbench shows; until then the palette lists only "similar
 * commands", so close it and retry until `timeoutMs`.
 */
export async function runCommand(page: Page, title: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const input = page.locator('.quick-input-widget input');
  for (;;) {
    await page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(`>${title}`);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ state: 'visible', timeout: 3000 });
      const label = (await row.getAttribute('aria-label')) ?? (await row.innerText());
      if (label.includes(title)) {
        await row.click();
        return;
      }
    } catch {
      // not registered yet
    }
    await page.keyboard.press('Escape');
    if (Date.now() > deadline) throw new Error(`command "${title}" never appeared in the palette within ${timeoutMs} ms`);
    await page.waitForTimeout(1000);
  }
}

/** The content frame of the webview panel whose title contains `title` (or the only one). */
export function webviewContent(page: Page, title?: string): FrameLocator {
  const frame = title ? page.locator(`iframe.webview[title*="${title}"]`) : page.locator('iframe.webview');
  return frame.last().contentFrame().frameLocator('#active-frame');
}

/** Text of the notifications center (toasts may not render, the center does). */
export async function notificationsText(page: Page): Promise<string> {
  await runCommand(page, 'Notifications: Show Notifications', 20_000);
  const center = page.locator('.notifications-center');
  await center.waitFor({ state: 'visible', timeout: 10_000 });
  return center.innerText();
}

/** Opens a workspace file by name through Quick Open (Ctrl+P). */
export async function openFile(page: Page, relativePath: string, timeoutMs = 30_000): Promise<void> {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(relativePath);
  const base = relativePath.split('/').pop()!;
  const row = page.locator('.quick-input-list .monaco-list-row', { hasText: base }).first();
  await row.waitFor({ state: 'visible', timeout: timeoutMs });
  await page.keyboard.press('Enter');
}
