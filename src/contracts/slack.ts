/**
 * What Vigil needs from Slack's Web API, as an interface: activities/slack/client.ts implements it (the only
 * file that knows the SDK); the Slack interaction server (intake/slack.ts) receives it from its composition
 * root, so the internet-facing code never builds its own Slack client.
 */

/** A block as Slack's Block Kit defines it (JSON); rendering lives in src/slack/blocks.ts. */
export type SlackBlock = Record<string, unknown>;

export interface SlackPosted {
  channel: string;
  ts: string;
}

/** What users.info tells us about a clicker, reduced to what authorization reads. */
export interface SlackUser {
  id: string;
  teamId?: string;
  deleted: boolean;
  /** A bot or an app user. */
  isBot: boolean;
  /** A multi-channel guest. */
  isRestricted: boolean;
  /** A single-channel guest. */
  isUltraRestricted: boolean;
}

/**
 * Message metadata (`event_type` + `event_payload`) marks every message Vigil posts with a stable key, so a
 * retried post finds the first one instead of posting twice.
 */
export interface SlackMark {
  eventType: string;
  key: string;
  incidentId: string;
  approvalId?: string;
}

export interface SlackApi {
  postMessage(m: {
    channel: string;
    text: string;
    blocks?: SlackBlock[];
    threadTs?: string;
    broadcast?: boolean;
    mark?: SlackMark;
  }): Promise<SlackPosted>;
  updateMessage(m: {
    channel: string;
    ts: string;
    text: string;
    blocks?: SlackBlock[];
  }): Promise<SlackPosted>;
  postEphemeral(m: { channel: string; user: string; text: string; threadTs?: string }): Promise<void>;
  userInfo(user: string): Promise<SlackUser>;
  usergroupMembers(group: string): Promise<string[]>;
  /** The message carrying `mark` posted in `channel` since `oldest` (unix seconds), if any. */
  findMarked(q: {
    channel: string;
    eventType: string;
    key: string;
    oldest: number;
  }): Promise<SlackPosted | undefined>;
}
