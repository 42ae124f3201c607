import { useState } from 'preact/hooks';
import { auth, describeError, setApiKey } from '../api.ts';
import { useStore } from '../store.ts';

const ROLE_TEXT = {
  open: 'This service has no API keys: everything is open.',
  admin: 'Admin key: every action is allowed.',
  predict: 'Predict key: you can read and try images; uploads, training, promotion and deletes need an admin key.',
  unknown: '',
};

/**
 * The tab's API key (sessionStorage: forgotten when the tab closes), sent as x-api-key. Shown
 * once the service answers 401; says which role the key has.
 */
export function KeyPanel() {
  const state = useStore(auth);
  const [draft, setDraft] = useState(state.key);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  if (state.role === 'open') return null;

  const apply = async (key: string) => {
    setBusy(true);
    setError(null);
    try {
      const role = await setApiKey(key);
      if (role === 'unknown') setError(auth.get().problem);
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      class="keypanel"
      aria-label="API key"
      onSubmit={(e) => {
        e.preventDefault();
        void apply(draft);
      }}
    >
      <label for="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autocomplete="off"
        spellcheck={false}
        value={draft}
        aria-describedby="api-key-status"
        onInput={(e) => setDraft(e.currentTarget.value)}
      />
      <button type="submit" disabled={busy}>
        Use key
      </button>
      {state.key && (
        <button
          type="button"
          disabled={busy}
          onClick={() => {
            setDraft('');
            void apply('');
          }}
        >
          Forget
        </button>
      )}
      <span id="api-key-status" class="key-status" role="status" data-testid="key-status">
        {error ?? (state.problem ? `${state.problem}: this service needs an API key (kept for this tab only).` : ROLE_TEXT[state.role])}
      </span>
    </form>
  );
}
