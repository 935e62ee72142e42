import { type Static, Type } from '@sinclair/typebox'
import { cel, DNS_NAME_PATTERN, withCel } from '../schema-helpers.ts'
import { CommonStatus } from './conditions.ts'
import { MethodList } from './ip-group.ts'

type PatternShape = { prefix?: string; regex?: string; exact?: string }

/** A string pattern: exactly one of prefix, exact or regex. */
export function StringPattern(description: string) {
  return withCel(
    Type.Object(
      {
        prefix: Type.Optional(
          Type.String({ maxLength: 64, description: 'Matches values starting with this text.' }),
        ),
        exact: Type.Optional(Type.String({ maxLength: 256, description: 'Matches exactly this value.' })),
        regex: Type.Optional(
          Type.String({
            minLength: 1,
            maxLength: 256,
            description: 'ECMAScript regular expression matched against the whole value (anchored).',
          }),
        ),
      },
      { additionalProperties: false, description },
    ),
    [
      cel<PatternShape>(
        '[has(self.prefix), has(self.exact), has(self.regex)].filter(x, x).size() == 1',
        'exactly one of prefix, exact or regex is required',
        (s) => [s.prefix, s.exact, s.regex].filter((x) => x !== undefined).length === 1,
      ),
    ],
  )
}
export const NumberPattern = StringPattern('A pattern on a number (user part of a SIP URI).')
export type StringPattern = Static<typeof NumberPattern>

/** A condition on a header of the request. */
export const HeaderMatch = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: "^[A-Za-z0-9!%*_+`'~.-]+$",
      description: 'Header name (case-insensitive).',
    }),
    present: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Whether the header must be present (true) or absent (false).',
      }),
    ),
    value: Type.Optional(StringPattern('A pattern the header value must match; only with present=true.')),
  },
  { additionalProperties: false, description: 'A condition on a request header.' },
)

/** What a rule matches; every given criterion must match, omitted criteria match anything. */
export const RouteMatch = Type.Object(
  {
    sourceIPGroups: Type.Optional(
      Type.Array(
        Type.String({
          minLength: 1,
          maxLength: 253,
          pattern: DNS_NAME_PATTERN,
          description: 'Name of an IPGroup.',
        }),
        {
          maxItems: 32,
          description: 'IPGroups the request must be classified into (any of them). Empty means any.',
        },
      ),
    ),
    methods: Type.Optional(MethodList('Request methods (any of them). Empty means any.')),
    sourceNumber: Type.Optional(StringPattern('Pattern on the calling number (user part of From).')),
    destinationNumber: Type.Optional(
      StringPattern('Pattern on the called number (user part of the Request-URI).'),
    ),
    headers: Type.Optional(
      Type.Array(HeaderMatch, { maxItems: 16, description: 'Header conditions (all of them).' }),
    ),
  },
  { additionalProperties: false, description: 'Which requests the rule applies to.' },
)
export type RouteMatch = Static<typeof RouteMatch>

/** A destination of a route. */
export const RouteTarget = Type.Object(
  {
    ipGroup: Type.String({
      minLength: 1,
      maxLength: 253,
      pattern: DNS_NAME_PATTERN,
      description: 'Name of the IPGroup.',
    }),
  },
  { additionalProperties: false, description: 'A destination IPGroup.' },
)

/** Failover between route targets. */
export const Failover = Type.Object(
  {
    onStatusCodes: Type.Optional(
      Type.Array(Type.Integer({ minimum: 300, maximum: 699, description: 'A final response code.' }), {
        maxItems: 32,
        default: [408, 500, 502, 503, 504],
        description: 'Final responses that make the SBC try the next target.',
      }),
    ),
    onTimeout: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Try the next target when a target does not answer (Timer B/F).',
      }),
    ),
  },
  { additionalProperties: false, description: 'When to try the next target.' },
)

/** Route to IP groups. */
export const RouteAction = Type.Object(
  {
    targets: Type.Array(RouteTarget, {
      minItems: 1,
      maxItems: 8,
      description: 'Destinations in order: the first one, then alternatives on failure.',
    }),
    failover: Type.Optional(Failover),
  },
  { additionalProperties: false, description: 'Forward the request to IPGroups.' },
)

/** Reply locally. */
export const ReplyAction = Type.Object(
  {
    code: Type.Integer({
      minimum: 200,
      maximum: 699,
      description: 'Status code of the local reply (e.g. 200 to OPTIONS).',
    }),
    reason: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 128,
        description: 'Reason phrase. Defaults to the standard phrase of the code.',
      }),
    ),
  },
  { additionalProperties: false, description: 'Answer the request locally.' },
)

/** What a rule does: exactly one of route or reply. */
export const RuleAction = withCel(
  Type.Object(
    { route: Type.Optional(RouteAction), reply: Type.Optional(ReplyAction) },
    { additionalProperties: false, description: 'What the rule does: exactly one of route or reply.' },
  ),
  [
    cel<{ route?: unknown; reply?: unknown }>(
      'has(self.route) != has(self.reply)',
      'exactly one of route or reply is required',
      (s) => (s.route === undefined) !== (s.reply === undefined),
    ),
  ],
)

/** RoutingRule: one row of the routing table (the seed's IP-to-IP Routing). */
export const RoutingRuleSpec = Type.Object(
  {
    order: Type.Integer({
      minimum: 0,
      maximum: 1000000,
      description: 'Position in the routing table; lower orders are evaluated first. Must be unique.',
    }),
    match: Type.Optional(RouteMatch),
    action: RuleAction,
  },
  { additionalProperties: false, description: 'Desired state of a RoutingRule.' },
)
export type RoutingRuleSpec = Static<typeof RoutingRuleSpec>

/** Observed state of a RoutingRule. */
export const RoutingRuleStatus = CommonStatus
export type RoutingRuleStatus = Static<typeof RoutingRuleStatus>
