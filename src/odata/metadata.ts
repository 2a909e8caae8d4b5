/**
 * The OData service document and `$metadata` (CSDL XML) of the catalog: one entity set per
 * dataset, whose entity type has the dataset's dimensions and metrics as properties and a
 * synthetic key (`_key`, see entity-set.ts), since an aggregated row has no natural one that is
 * never null. Built once per catalog: the catalog is fixed for the process's life.
 */
import type { Catalog, Dataset, Dimension, DimensionType, Metric } from '../modules/analytics/catalog.js';

export const NAMESPACE = 'Palisade';
/** The synthetic key property; catalog names start with a letter, so it never collides. */
export const KEY_PROPERTY = '_key';

const EDM_TYPE: Record<DimensionType, string> = {
  string: 'Edm.String',
  number: 'Edm.Decimal',
  boolean: 'Edm.Boolean',
  date: 'Edm.Date',
  timestamp: 'Edm.DateTimeOffset',
};

export function edmTypeOfDimension(dimension: Pick<Dimension, 'type'>): string {
  return EDM_TYPE[dimension.type];
}

/** Counts are whole numbers; every other aggregate may have a fraction. */
export function edmTypeOfMetric(metric: Pick<Metric, 'aggregation'>): string {
  return metric.aggregation === 'count' || metric.aggregation === 'count_distinct' ? 'Edm.Int64' : 'Edm.Decimal';
}

function xml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function annotations(label: string, description: string | undefined, indent: string): string {
  const lines = [`${indent}<Annotation Term="Core.Description" String="${xml(label)}"/>`];
  if (description) lines.push(`${indent}<Annotation Term="Core.LongDescription" String="${xml(description)}"/>`);
  return lines.join('\n');
}

/** A property; Decimal with variable scale, since CSDL's default scale for Decimal is 0. */
function property(name: string, type: string, label: string, description: string | undefined, nullable = true): string {
  const facets = `${type === 'Edm.Decimal' ? ' Scale="variable"' : ''}${nullable ? '' : ' Nullable="false"'}`;
  return [`        <Property Name="${name}" Type="${type}"${facets}>`, annotations(label, description, '          '), '        </Property>'].join('\n');
}

function entityType(dataset: Dataset): string {
  return [
    `      <EntityType Name="${dataset.name}">`,
    `        <Key><PropertyRef Name="${KEY_PROPERTY}"/></Key>`,
    property(KEY_PROPERTY, 'Edm.String', 'Row key', 'Identifies the row by its dimension values; stable across refreshes.', false),
    ...dataset.dimensions.map((d) => property(d.name, edmTypeOfDimension(d), d.label, d.description)),
    ...dataset.metrics.map((m) => property(m.name, edmTypeOfMetric(m), m.label, m.description)),
    `      </EntityType>`,
  ].join('\n');
}

function buildMetadata(catalog: Catalog): string {
  const sets = catalog.datasets.map((d) =>
    [`        <EntitySet Name="${d.name}" EntityType="${NAMESPACE}.${d.name}">`, annotations(d.description, undefined, '          '), '        </EntitySet>'].join('\n'),
  );
  return [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0">',
    '  <edmx:Reference Uri="https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Core.V1.xml">',
    '    <edmx:Include Namespace="Org.OData.Core.V1" Alias="Core"/>',
    '  </edmx:Reference>',
    '  <edmx:DataServices>',
    `    <Schema xmlns="http://docs.oasis-open.org/odata/ns/edm" Namespace="${NAMESPACE}">`,
    ...catalog.datasets.map(entityType),
    '      <EntityContainer Name="Container">',
    ...sets,
    '      </EntityContainer>',
    '    </Schema>',
    '  </edmx:DataServices>',
    '</edmx:Edmx>',
    '',
  ].join('\n');
}

const documents = new WeakMap<Catalog, string>();

export function metadataXml(catalog: Catalog): string {
  let doc = documents.get(catalog);
  if (doc === undefined) documents.set(catalog, (doc = buildMetadata(catalog)));
  return doc;
}

/** The service document: every entity set, relative to the service root. */
export function serviceDocument(catalog: Catalog, serviceRoot: string) {
  return {
    '@odata.context': `${serviceRoot}/$metadata`,
    value: catalog.datasets.map((d) => ({ name: d.name, kind: 'EntitySet', url: d.name, title: d.description })),
  };
}
