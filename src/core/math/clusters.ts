/**
 * Equivalence-aware grouping of predicted answers (majority voting, maj@k).
 *
 * Answers are first bucketed by their cleaned key (`answerKey`), so the thousands of identical
 * strings in a 512-sample problem cost one map lookup each; only distinct keys are compared with
 * `isEquivalent`, against one representative per cluster.
 */
import { answerKey, isEquivalent } from './equivalence';

export interface Cluster {
  /** The first answer seen in the cluster (its raw text). */
  representative: string;
  /** Arrival order of the cluster's first member: ties go to the earliest cluster. */
  first: number;
  votes: number;
}

export class AnswerClusters {
  readonly clusters: Cluster[] = [];
  private readonly byKey = new Map<string, number>();
  /** Raw answer -> cluster, so repeats skip even the string clean-up. */
  private readonly byRaw = new Map<string, number>();
  private arrivals = 0;
  /** Votes cast (null answers are not votes). */
  total = 0;
  private readonly rawCache: boolean;

  /** `rawCache: false` keeps only cleaned keys (less memory when answers rarely repeat verbatim). */
  constructor(options: { rawCache?: boolean } = {}) {
    this.rawCache = options.rawCache ?? true;
  }

  /** Adds one answer; returns its cluster index, or -1 for a null/empty answer. */
  add(answer: string | null | undefined): number {
    const order = this.arrivals++;
    if (answer === null || answer === undefined) return -1;
    let idx = this.rawCache ? this.byRaw.get(answer) : undefined;
    if (idx !== undefined) {
      if (idx < 0) return -1;
      this.total++;
      this.clusters[idx].votes++;
      return idx;
    }
    const key = answerKey(answer);
    if (!key) {
      if (this.rawCache) this.byRaw.set(answer, -1);
      return -1;
    }
    this.total++;
    idx = this.byKey.get(key);
    if (idx === undefined) {
      idx = this.clusters.findIndex((c) => isEquivalent(answer, c.representative));
      if (idx < 0) {
        idx = this.clusters.length;
        this.clusters.push({ representative: answer, first: order, votes: 0 });
      }
      this.byKey.set(key, idx);
    }
    if (this.rawCache) this.byRaw.set(answer, idx);
    this.clusters[idx].votes++;
    return idx;
  }

  /** The cluster with most votes; ties go to the one that appeared first. Null when no votes. */
  winner(): { index: number; cluster: Cluster } | null {
    let best = -1;
    for (let i = 0; i < this.clusters.length; i++) {
      const c = this.clusters[i];
      if (best < 0 || c.votes > this.clusters[best].votes || (c.votes === this.clusters[best].votes && c.first < this.clusters[best].first)) best = i;
    }
    return best < 0 ? null : { index: best, cluster: this.clusters[best] };
  }
}
