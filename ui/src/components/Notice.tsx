import type { ComponentChildren } from 'preact';

/** An error (role=alert, read out at once) or a calm status line. */
export function Notice({ kind, children, testId }: { kind: 'error' | 'info' | 'ok'; children: ComponentChildren; testId?: string }) {
  return (
    <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'} data-testid={testId}>
      {children}
    </div>
  );
}
