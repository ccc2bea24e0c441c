export {
  EntityReducers,
  sensorReadingReducer,
  orderPlacedReducer,
  genericReducer,
  entityKey,
  type EntityReducer,
  type EntityRef,
  type EntityState,
} from './reducers.ts';
