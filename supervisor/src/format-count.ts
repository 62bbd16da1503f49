/**
 * Counts as people read them: "1,234,567". Not `toLocaleString('en-US')`: its first call loads
 * ICU's number-formatting data from node's binary, and every `fimctl start` says how many
 * entries its baseline scanned, so that one message kept about 7 MB more resident for the
 * supervisor's whole life (its RSS target is 100 MB, burst included).
 */
export function groupThousands(value: number): string {
	if (!Number.isFinite(value)) {
		return String(value);
	}

	// Three decimals at most, as the en-US format prints them.
	const [whole = '0', fraction] = String(Math.round(Math.abs(value) * 1000) / 1000).split('.');
	const grouped = whole.replaceAll(/\B(?=(\d{3})+$)/g, ',');
	const sign = value < 0 && (whole !== '0' || fraction !== undefined) ? '-' : '';
	return `${sign}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}
