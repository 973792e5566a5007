# Geospatial commands through the generated methods, under RESP2 and RESP3:
# GEOADD (NX/XX/CH), GEOPOS, GEODIST in each unit, GEOHASH, GEOSEARCH from a
# member or a point, by radius or box, with COUNT/ASC/DESC and
# WITHCOORD/WITHDIST/WITHHASH, GEOSEARCHSTORE (with STOREDIST) - the values
# they return (the Sicily examples of the Redis documentation) and the
# sorted set they leave; error replies (WRONGTYPE, ERR) fail the future with
# an Error::Redis object and the client keeps working.
use Test2::V0;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use lib 't/lib';
use FIORTest;

my $srv = FIORTest::server('plain');

# Stored positions are 52-bit geohashes: close to what was added, not equal.
sub near { return within( $_[0], 1e-5 ) }

my %PLACE = (
    Palermo   => [ '13.361389', '38.115556' ],
    Catania   => [ '15.087269', '37.502669' ],
    Agrigento => [ '13.583333', '37.316667' ],
    edge1     => [ '12.758489', '38.788135' ],
    edge2     => [ '17.241510', '38.788135' ],
);

for my $protocol ( 2, 3 ) {
    subtest "RESP$protocol" => sub {
        my $redis = Future::IO::Redis->new( %$srv, protocol => $protocol );
        $redis->connect->get;
        my $base = FIORTest::unique_key('geo');
        my $k    = "$base:sicily";

        subtest 'GEOADD, GEOPOS' => sub {
            is(
                $redis->geoadd( $k, @{ $PLACE{Palermo} },
                    'Palermo', @{ $PLACE{Catania} }, 'Catania' )->get,
                2,
                'GEOADD: 2 added'
            );
            is(
                $redis->geoadd(
                    $k, 'NX', @{ $PLACE{Palermo} }, 'Palermo',
                    @{ $PLACE{Agrigento} }, 'Agrigento'
                )->get,
                1,
                'GEOADD NX: only the new one'
            );
            is( $redis->geoadd( $k, 'XX', 0, 0, 'Palermo', 1, 1, 'Nowhere' )->get,
                0, 'GEOADD XX: adds none' );
            is( $redis->geoadd( $k, 'XX', 'CH', @{ $PLACE{Palermo} }, 'Palermo' )->get,
                1, 'GEOADD XX CH: counts the change (moved back)' );
            is( $redis->zcard($k)->get, 3,      'three members' );
            is( $redis->type($k)->get,  'zset', 'a geo set is a sorted set' );

            is(
                $redis->geopos( $k, qw(Palermo Nowhere Catania) )->get,
                [
                    [ near( $PLACE{Palermo}[0] ), near( $PLACE{Palermo}[1] ) ],
                    undef,
                    [ near( $PLACE{Catania}[0] ), near( $PLACE{Catania}[1] ) ],
                ],
                'GEOPOS: [lon, lat] each, undef for a non-member'
            );
            is( $redis->geopos( "$k:missing", 'Palermo' )->get, [undef], 'of a missing key' );

            my $err = FIORTest::redis_error_ok(
                $redis, $redis->geoadd( $k, 200, 100, 'Bad' ),
                'ERR',  'GEOADD of an invalid position'
            );
            like( $err->message, qr/invalid longitude,latitude/, '... says why' );
            is( $redis->zscore( $k, 'Bad' )->get, undef, '... nothing added' );
        };

        subtest 'GEODIST, GEOHASH' => sub {
            is( $redis->geodist( $k, qw(Palermo Catania) )->get,    '166274.1516', 'metres' );
            is( $redis->geodist( $k, qw(Palermo Catania km) )->get, '166.2742',    'km' );
            is( $redis->geodist( $k, qw(Palermo Catania mi) )->get, '103.3182',    'miles' );
            is( $redis->geodist( $k, qw(Palermo Catania ft) )->get, '545518.8700', 'feet' );
            is( $redis->geodist( $k, qw(Palermo Palermo) )->get,    '0.0000',      'to itself: 0' );
            is( $redis->geodist( $k, qw(Palermo Nowhere) )->get, undef, 'to a non-member: undef' );
            FIORTest::redis_error_ok( $redis, $redis->geodist( $k, qw(Palermo Catania parsecs) ),
                'ERR', 'GEODIST in an unknown unit' );

            is(
                $redis->geohash( $k, qw(Palermo Catania Nowhere) )->get,
                [ 'sqc8b49rny0', 'sqdtr74hyu0', undef ],
                'GEOHASH: 11-character strings'
            );
            is( $redis->zscore( $k, 'Palermo' )->get,
                '3479099956230698', 'the score is the 52-bit geohash' );
        };

        subtest 'GEOSEARCH' => sub {
            $redis->geoadd( $k, map { ( @{ $PLACE{$_} }, $_ ) } qw(edge1 edge2) )->get;
            is(
                $redis->geosearch( $k, 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km', 'ASC' )->get,
                [qw(Catania Agrigento Palermo)],
                'BYRADIUS 200 km from a point, ASC'
            );
            is(
                $redis->geosearch( $k, 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km', 'DESC' )->get,
                [qw(Palermo Agrigento Catania)],
                '... DESC'
            );
            is(
                $redis->geosearch( $k, 'FROMLONLAT', 15, 37, 'BYBOX', 400, 400, 'km', 'ASC',
                    'WITHCOORD', 'WITHDIST' )->get,
                [
                    [
                        'Catania', '56.4413',
                        [ near( $PLACE{Catania}[0] ), near( $PLACE{Catania}[1] ) ]
                    ],
                    [
                        'Agrigento', '130.4235',
                        [ near( $PLACE{Agrigento}[0] ), near( $PLACE{Agrigento}[1] ) ]
                    ],
                    [
                        'Palermo', '190.4424',
                        [ near( $PLACE{Palermo}[0] ), near( $PLACE{Palermo}[1] ) ]
                    ],
                    [ 'edge2', '279.7403', [ near( $PLACE{edge2}[0] ), near( $PLACE{edge2}[1] ) ] ],
                    [ 'edge1', '279.7405', [ near( $PLACE{edge1}[0] ), near( $PLACE{edge1}[1] ) ] ],
                ],
                'BYBOX WITHCOORD WITHDIST: [name, dist, [lon, lat]], nearest first'
            );
            is(
                $redis->geosearch(
                    $k,    'FROMMEMBER', 'Palermo', 'BYRADIUS', 100, 'km',
                    'ASC', 'WITHDIST',   'WITHHASH'
                )->get,
                [
                    [ 'Palermo',   '0.0000',  '3479099956230698' ],
                    [ 'Agrigento', '90.9778', '3479030013248308' ],
                    [ 'edge1',     '91.4007', '3479273021651468' ],
                ],
                'FROMMEMBER WITHDIST WITHHASH: [name, dist, hash]'
            );
            is(
                $redis->geosearch( $k, 'FROMMEMBER', 'Palermo', 'BYRADIUS', 500, 'km', 'ASC',
                    'COUNT', 2 )->get,
                [qw(Palermo Agrigento)],
                'COUNT 2: the nearest two'
            );
            is(
                $redis->geosearch( $k, 'FROMMEMBER', 'Palermo', 'BYRADIUS', 500, 'km', 'DESC',
                    'COUNT', 1 )->get,
                ['edge2'],
                'DESC COUNT 1: the farthest'
            );
            is( $redis->geosearch( $k, 'FROMLONLAT', 0, 0, 'BYRADIUS', 1, 'm' )->get,
                [], 'nothing in range: []' );
            is(
                $redis->geosearch( "$k:missing", 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km' )->get,
                [],
                'of a missing key: []'
            );
            FIORTest::redis_error_ok( $redis,
                $redis->geosearch( $k, 'FROMMEMBER', 'Nowhere', 'BYRADIUS', 1, 'km' ),
                'ERR', 'GEOSEARCH from a non-member' );
        };

        subtest 'GEOSEARCHSTORE' => sub {
            my $dst = "$base:near";
            is(
                $redis->geosearchstore( $dst, $k, 'FROMLONLAT', 15, 37, 'BYBOX', 400, 400, 'km',
                    'ASC', 'COUNT', 3 )->get,
                3,
                'GEOSEARCHSTORE COUNT 3: the count'
            );
            is(
                $redis->zrange( $dst, 0, -1 )->get,
                bag { item $_ for qw(Catania Agrigento Palermo); end },
                'the three nearest stored'
            );
            is(
                $redis->geopos( $dst, 'Catania' )->get,
                [ [ near( $PLACE{Catania}[0] ), near( $PLACE{Catania}[1] ) ] ],
                'as geo members (positions kept)'
            );
            is(
                $redis->geosearchstore( $dst, $k, 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km',
                    'ASC', 'STOREDIST' )->get,
                3,
                'STOREDIST: replaces'
            );
            my $dists = $redis->zrange( $dst, 0, -1, 'WITHSCORES' )->get;
            $dists = [ map { @$_ } @$dists ] if $protocol == 3;
            is(
                $dists,
                [
                    Catania   => within( 56.4413,  1e-3 ),
                    Agrigento => within( 130.4235, 1e-3 ),
                    Palermo   => within( 190.4424, 1e-3 ),
                ],
                '... the scores are the distances in km'
            );
            is( $redis->geosearchstore( $dst, $k, 'FROMLONLAT', 0, 0, 'BYRADIUS', 1, 'm' )->get,
                0, 'an empty result: 0' );
            is( $redis->exists($dst)->get, 0, '... deletes the destination' );
        };

        subtest 'WRONGTYPE' => sub {
            my $s = "$base:string";
            $redis->set( $s, 'v' )->get;
            my $err = FIORTest::redis_error_ok( $redis, $redis->geoadd( $s, 13, 38, 'm' ),
                'WRONGTYPE', 'GEOADD to a string' );
            like( $err->message, qr/^WRONGTYPE /, 'the server\'s message' );
            FIORTest::redis_error_ok( $redis, $redis->geopos( $s, 'm' ),
                'WRONGTYPE', 'GEOPOS of a string' );
            FIORTest::redis_error_ok( $redis,
                $redis->geosearch( $s, 'FROMLONLAT', 15, 37, 'BYRADIUS', 200, 'km' ),
                'WRONGTYPE', 'GEOSEARCH of a string' );
            is( $redis->get($s)->get, 'v', 'the string is untouched' );
            is( $redis->geodist( $k, qw(Palermo Catania km) )->get, '166.2742', 'geo still works' );
            $redis->del($s)->get;
        };

        is( $redis->del($k)->get,         1,  'DEL' );
        is( $redis->keys("$base:*")->get, [], 'no key of this file left behind' );
        $redis->disconnect;
    };
}

done_testing;
